// Property tests of openEnvelope: nothing but InvalidEnvelopeError escapes, and what a
// conforming client seals always opens to the same text.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createCipheriv, generateKeyPairSync, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import fc from 'fast-check';
import { openEnvelope, InvalidEnvelopeError, rsaOaepUnwrapper, type OpenedEnvelope } from '../../src/envelope/index.js';
import type { KeyUnwrapper, OaepHash } from '../../src/envelope/key-unwrap.js';
import type { ContentEncryption } from '../../src/envelope/content-decrypt.js';
import { canonicalMinute, type Minute } from '../../src/envelope/minute.js';

const RUNS = 200;
// One key for the whole file: RSA key generation is slow.
const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const unwrapper = rsaOaepUnwrapper(privateKey);

type Alphabet = 'standard' | 'standard-unpadded' | 'url-safe' | 'url-safe-padded';
type KeyLength = 16 | 24 | 32;
const FIELDS = ['encryptedKey', 'iv', 'ciphertext'] as const;
type BinaryField = (typeof FIELDS)[number];

interface SealParams {
  plaintext: string;
  keyLength: KeyLength;
  enc: ContentEncryption;
  oaepHash: OaepHash;
  minute: Minute;
  alphabet: Alphabet;
  /** Write `enc` and `oaepHash` even when they are the defaults. */
  declareDefaults: boolean;
}

function encode(bytes: Buffer, alphabet: Alphabet): string {
  switch (alphabet) {
    case 'standard': return bytes.toString('base64');
    case 'standard-unpadded': return bytes.toString('base64').replace(/=+$/, '');
    case 'url-safe': return bytes.toString('base64url');
    case 'url-safe-padded': {
      const s = bytes.toString('base64url');
      return s + '='.repeat((4 - (s.length % 4)) % 4);
    }
  }
}

/** A test-local client: seals like a conforming one would, with node:crypto. */
function seal(p: SealParams, key: KeyObject = publicKey): Record<string, unknown> {
  const aesKey = randomBytes(p.keyLength);
  const bits = p.keyLength === 16 ? 128 : p.keyLength === 24 ? 192 : 256;
  const encryptedKey = publicEncrypt(
    { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: p.oaepHash === 'SHA-1' ? 'sha1' : 'sha256' },
    aesKey,
  );
  let iv: Buffer;
  let ciphertext: Buffer;
  if (p.enc === 'AES-GCM') {
    iv = randomBytes(12);
    const cipher = createCipheriv(`aes-${bits}-gcm`, aesKey, iv, { authTagLength: 16 });
    cipher.setAAD(Buffer.from(canonicalMinute(p.minute), 'utf8'));
    ciphertext = Buffer.concat([cipher.update(p.plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  } else {
    iv = randomBytes(16);
    const cipher = createCipheriv(`aes-${bits}-cbc`, aesKey, iv);
    ciphertext = Buffer.concat([cipher.update(p.plaintext, 'utf8'), cipher.final()]);
  }
  const envelope: Record<string, unknown> = {
    encryptedKey: encode(encryptedKey, p.alphabet),
    iv: encode(iv, p.alphabet),
    ciphertext: encode(ciphertext, p.alphabet),
    minute: p.minute,
  };
  if (p.declareDefaults || p.enc !== 'AES-CBC') envelope.enc = p.enc;
  if (p.declareDefaults || p.oaepHash !== 'SHA-256') envelope.oaepHash = p.oaepHash;
  return envelope;
}

/** Opens, or reports 'invalid' for InvalidEnvelopeError; any other exception fails the property. */
function attempt(message: string, with_: KeyUnwrapper = unwrapper): OpenedEnvelope | 'invalid' {
  try {
    return openEnvelope(message, with_);
  } catch (err) {
    if (err instanceof InvalidEnvelopeError) return 'invalid';
    throw new Error(`openEnvelope threw something other than InvalidEnvelopeError: ${String(err)}`, { cause: err });
  }
}

const minuteArb: fc.Arbitrary<Minute> = fc.oneof(
  fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
  fc.integer({ min: 27_000_000, max: 30_000_000 }),
  fc.string({ unit: 'binary', maxLength: 64 }).filter((s) => !s.includes('\u0000')),
  fc.string({ maxLength: 20 }),
);

const sealArb: fc.Arbitrary<SealParams> = fc.record({
  // 'binary' yields any code point but never a lone surrogate, so the text always has a UTF-8 form.
  plaintext: fc.oneof(
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.json(),
    fc.string({ unit: 'binary', maxLength: 50 }).map((s) => `\uFEFF${s}`),
  ),
  keyLength: fc.constantFrom<KeyLength>(16, 24, 32),
  enc: fc.constantFrom<ContentEncryption>('AES-CBC', 'AES-GCM'),
  oaepHash: fc.constantFrom<OaepHash>('SHA-256', 'SHA-1'),
  minute: minuteArb,
  alphabet: fc.constantFrom<Alphabet>('standard', 'standard-unpadded', 'url-safe', 'url-safe-padded'),
  declareDefaults: fc.boolean(),
});

describe('openEnvelope properties', () => {
  test('round trip: what a conforming client seals opens to the same text, minute and bytes', () => {
    fc.assert(
      fc.property(sealArb, (p) => {
        const opened = openEnvelope(JSON.stringify(seal(p)), unwrapper);
        assert.equal(opened.plaintext, p.plaintext);
        assert.deepEqual(opened.plaintextBytes, Buffer.from(p.plaintext, 'utf8'));
        assert.equal(opened.minute, p.minute);
        assert.equal(opened.canonicalMinute, canonicalMinute(p.minute));
        assert.equal(opened.enc, p.enc);
      }),
      { numRuns: RUNS },
    );
  });

  test('arbitrary strings are refused with InvalidEnvelopeError only', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.string(), fc.json()), (s) => {
        assert.equal(attempt(s), 'invalid');
      }),
      { numRuns: RUNS },
    );
  });

  test('JSON objects with random field types are refused with InvalidEnvelopeError only', () => {
    const anyField = fc.oneof(
      fc.jsonValue(),
      fc.base64String(),
      fc.uint8Array({ minLength: 255, maxLength: 257 }).map((b) => Buffer.from(b).toString('base64')),
      fc.constantFrom('AES-CBC', 'AES-GCM', 'aes-gcm', 'SHA-256', 'SHA-1', 'SHA-512', '', null, 29412345, 1.5, -0, 1e300),
    );
    const objectArb = fc.tuple(
      fc.record(
        { encryptedKey: anyField, iv: anyField, ciphertext: anyField, minute: anyField, enc: anyField, oaepHash: anyField },
        { requiredKeys: [] },
      ),
      fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 3 }),
    ).map(([known, extra]) => ({ ...extra, ...known }));
    fc.assert(
      fc.property(objectArb, (obj) => {
        assert.equal(attempt(JSON.stringify(obj)), 'invalid');
      }),
      { numRuns: RUNS },
    );
  });

  test('mutated valid envelopes never throw anything but InvalidEnvelopeError, and GCM and OAEP catch every flip', () => {
    type Mutation =
      | { kind: 'flip'; field: BinaryField; index: number; mask: number }
      | { kind: 'char'; field: BinaryField; index: number; char: string }
      | { kind: 'minute'; minute: Minute }
      | { kind: 'retype'; field: string; value: fc.JsonValue }
      | { kind: 'delete'; field: string }
      | { kind: 'truncate'; at: number };
    const fieldName = fc.constantFrom('encryptedKey', 'iv', 'ciphertext', 'minute', 'enc', 'oaepHash');
    const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), field: fc.constantFrom(...FIELDS), index: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
      fc.record({ kind: fc.constant('char' as const), field: fc.constantFrom(...FIELDS), index: fc.nat(), char: fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 1 }) }),
      fc.record({ kind: fc.constant('minute' as const), minute: minuteArb }),
      fc.record({ kind: fc.constant('retype' as const), field: fieldName, value: fc.jsonValue() }),
      fc.record({ kind: fc.constant('delete' as const), field: fieldName }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    );

    fc.assert(
      fc.property(sealArb, mutationArb, (p, m) => {
        const envelope = seal(p);
        let message: string;
        let mustFail = false;
        switch (m.kind) {
          case 'flip': {
            // Decode with node (the text is known-good here), flip, re-encode in the same alphabet.
            const bytes = Buffer.from(envelope[m.field] as string, p.alphabet.startsWith('url') ? 'base64url' : 'base64');
            if (bytes.length > 0) bytes[m.index % bytes.length]! ^= m.mask;
            envelope[m.field] = encode(bytes, p.alphabet);
            // OAEP is non-malleable and GCM authenticates iv and ciphertext: only CBC content may survive a flip.
            mustFail = m.field === 'encryptedKey' || p.enc === 'AES-GCM';
            message = JSON.stringify(envelope);
            break;
          }
          case 'char': {
            const text = envelope[m.field] as string;
            const i = m.index % text.length;
            envelope[m.field] = text.slice(0, i) + m.char + text.slice(i + 1);
            message = JSON.stringify(envelope);
            break;
          }
          case 'minute':
            envelope.minute = m.minute;
            // The canonical minute is GCM's additional data (SPEC §5).
            mustFail = p.enc === 'AES-GCM' && canonicalMinute(m.minute) !== canonicalMinute(p.minute);
            message = JSON.stringify(envelope);
            break;
          case 'retype':
            envelope[m.field] = m.value;
            message = JSON.stringify(envelope);
            break;
          case 'delete':
            delete envelope[m.field];
            message = JSON.stringify(envelope);
            break;
          case 'truncate': {
            const full = JSON.stringify(envelope);
            message = full.slice(0, m.at % full.length);
            break;
          }
        }
        const result = attempt(message);
        if (mustFail) assert.equal(result, 'invalid', `${m.kind} must be refused`);
        if (result !== 'invalid' && m.kind === 'minute') assert.equal(result.minute, m.minute);
      }),
      { numRuns: RUNS },
    );
  });

  test('an envelope for another key pair is refused', () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    fc.assert(
      fc.property(sealArb, (p) => {
        assert.equal(attempt(JSON.stringify(seal(p, other))), 'invalid');
      }),
      { numRuns: 20 },
    );
  });
});

describe('openEnvelope specifics', () => {
  const base: SealParams = {
    plaintext: '{"a":1}', keyLength: 32, enc: 'AES-GCM', oaepHash: 'SHA-256', minute: 29412345, alphabet: 'standard', declareDefaults: true,
  };

  test('a leading BOM is kept, so the text re-encodes to the hashed bytes', () => {
    for (const enc of ['AES-CBC', 'AES-GCM'] as const) {
      const opened = openEnvelope(JSON.stringify(seal({ ...base, enc, plaintext: '\uFEFF{"bom":true}' })), unwrapper);
      assert.equal(opened.plaintext, '\uFEFF{"bom":true}');
      assert.deepEqual(Buffer.from(opened.plaintext, 'utf8'), opened.plaintextBytes);
    }
  });

  test('an empty plaintext is valid UTF-8 and opens', () => {
    for (const enc of ['AES-CBC', 'AES-GCM'] as const) {
      assert.equal(openEnvelope(JSON.stringify(seal({ ...base, enc, plaintext: '' })), unwrapper).plaintext, '');
    }
  });

  test('defaults: no enc means AES-CBC, no oaepHash means SHA-256', () => {
    const env = seal({ ...base, enc: 'AES-CBC', oaepHash: 'SHA-256', declareDefaults: false });
    assert.equal('enc' in env || 'oaepHash' in env, false);
    assert.equal(openEnvelope(JSON.stringify(env), unwrapper).enc, 'AES-CBC');
    // SHA-1 wrapped key without saying so: the default SHA-256 cannot unwrap it.
    const sha1 = seal({ ...base, enc: 'AES-CBC', oaepHash: 'SHA-1', declareDefaults: false });
    delete sha1.oaepHash;
    assert.equal(attempt(JSON.stringify(sha1)), 'invalid');
  });

  test('null or wrongly cased enc / oaepHash are refused, not defaulted', () => {
    for (const [field, value] of [['enc', null], ['enc', 'aes-gcm'], ['oaepHash', null], ['oaepHash', 'sha-256'], ['oaepHash', 'SHA256']] as const) {
      assert.equal(attempt(JSON.stringify({ ...seal(base), [field]: value })), 'invalid', `${field}=${String(value)}`);
    }
  });

  test('fields inherited from a polluted prototype are not read', () => {
    const env = seal(base);
    const { minute } = env;
    delete env.minute;
    const proto = Object.prototype as Record<string, unknown>;
    proto.minute = minute;
    try {
      assert.equal(attempt(JSON.stringify(env)), 'invalid');
    } finally {
      delete proto.minute;
    }
  });

  test('a failing unwrapper of any kind still ends as InvalidEnvelopeError', () => {
    const broken: KeyUnwrapper = { unwrap: () => { throw new RangeError('cache exploded'); } };
    assert.throws(() => openEnvelope(JSON.stringify(seal(base)), broken), (err: unknown) => {
      assert.ok(err instanceof InvalidEnvelopeError);
      assert.ok(err.cause instanceof RangeError);
      return true;
    });
  });

  test('the unwrapper is not consulted for an envelope refusable without the private key', () => {
    let calls = 0;
    const counting: KeyUnwrapper = { unwrap: (k, h) => { calls++; return unwrapper.unwrap(k, h); } };
    const env = seal({ ...base, enc: 'AES-GCM' });
    assert.equal(attempt(JSON.stringify({ ...env, iv: randomBytes(16).toString('base64') }), counting), 'invalid');
    assert.equal(attempt(JSON.stringify({ ...env, ciphertext: 'AAAA' }), counting), 'invalid');
    assert.equal(calls, 0);
  });

  test('a public key or a non-RSA key cannot make an unwrapper', () => {
    assert.throws(() => rsaOaepUnwrapper(publicKey), TypeError);
    assert.throws(() => rsaOaepUnwrapper(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey), TypeError);
  });
});
