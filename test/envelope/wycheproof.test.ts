// Project Wycheproof vectors (read in place from the shared folder, never copied into the project)
// through the envelope's RSA-OAEP and AES layers. See /work/shared/vectors/wycheproof/README.md.
import { test, describe, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  constants, createCipheriv, createPrivateKey, privateDecrypt, randomBytes, type KeyObject,
} from 'node:crypto';
import { InvalidEnvelopeError } from '../../src/envelope/errors.js';
import { AES_KEY_LENGTHS, rsaOaepDecrypt, rsaOaepUnwrapper, type OaepHash } from '../../src/envelope/key-unwrap.js';
import { decryptContent, GCM_IV_LENGTH, GCM_TAG_LENGTH, type ContentEncryption } from '../../src/envelope/content-decrypt.js';
import { openEnvelope } from '../../src/envelope/open.js';

const WYCHEPROOF_DIR = process.env.WYCHEPROOF_DIR
  ? resolve(process.env.WYCHEPROOF_DIR)
  : fileURLToPath(new URL('../../../shared/vectors/wycheproof/', import.meta.url));
const REQUIRED = process.env.REQUIRE_WYCHEPROOF === '1';
const FOLDER_PRESENT = existsSync(WYCHEPROOF_DIR);
if (!FOLDER_PRESENT && !REQUIRED) {
  console.error(
    `!!! WYCHEPROOF SUITES SKIPPED: folder ${WYCHEPROOF_DIR} not found; ` +
      'set WYCHEPROOF_DIR to it, or REQUIRE_WYCHEPROOF=1 to make this a failure !!!',
  );
}

type Result = 'valid' | 'invalid' | 'acceptable';
interface Suite<G> { algorithm: string; numberOfTests: number; testGroups: G[] }
interface OaepTest { tcId: number; comment: string; msg: string; ct: string; label: string; result: Result }
interface OaepGroup { sha: string; mgf: string; mgfSha: string; privateKeyPem: string; tests: OaepTest[] }
interface CbcTest { tcId: number; comment: string; key: string; iv: string; msg: string; ct: string; result: Result }
interface GcmTest { tcId: number; comment: string; key: string; iv: string; aad: string; msg: string; ct: string; tag: string; result: Result }

const hex = (s: string): Buffer => Buffer.from(s, 'hex');

/** Null when `fn` threw InvalidEnvelopeError; otherwise what happened instead. */
function invalidOrWhy(fn: () => unknown): string | null {
  try {
    fn();
    return 'was accepted';
  } catch (err) {
    return err instanceof InvalidEnvelopeError ? null : `threw ${String(err)}`;
  }
}

/** Null when `fn` returned `expected`; otherwise what happened instead. */
function equalsOrWhy(fn: () => Buffer, expected: Buffer): string | null {
  try {
    const got = fn();
    return got.equals(expected) ? null : `gave ${got.toString('hex')}`;
  } catch (err) {
    return `threw ${err instanceof InvalidEnvelopeError ? `InvalidEnvelopeError(${err.reason})` : String(err)}`;
  }
}

function report(t: TestContext, file: string, counts: Record<string, number>): void {
  const line = `wycheproof ${file}: ${Object.entries(counts).map(([k, v]) => `${k}=${v}`).join(' ')}`;
  t.diagnostic(line);
  console.log(line);
}

/** Registers the suite's test, or a loud skip (a failure under REQUIRE_WYCHEPROOF=1) when its file is missing. */
function withSuite<G>(file: string, run: (t: TestContext, suite: Suite<G>) => void): void {
  const path = resolve(WYCHEPROOF_DIR, file);
  if (!existsSync(path)) {
    const why = `${path} not found`;
    if (REQUIRED) {
      test(file, () => assert.fail(`REQUIRE_WYCHEPROOF=1 but ${why} (set WYCHEPROOF_DIR to the folder)`));
    } else {
      // A missing folder was announced once above; a single missing file is announced here.
      if (FOLDER_PRESENT) {
        console.error(`!!! WYCHEPROOF SUITE SKIPPED: ${why}; set WYCHEPROOF_DIR, or REQUIRE_WYCHEPROOF=1 to make this a failure !!!`);
      }
      test(file, { skip: `Wycheproof vectors missing: ${why}` }, () => {});
    }
    return;
  }
  test(file, (t) => run(t, JSON.parse(readFileSync(path, 'utf8')) as Suite<G>));
}

/** A full envelope around `aesKey` wrapped as `encryptedKey`, so the vector also passes through openEnvelope. */
function envelopeAround(encryptedKey: Buffer, oaepHash: OaepHash, aesKey: Buffer, enc: ContentEncryption, plaintext: string): string {
  const minute = 29412345;
  const bits = aesKey.length === 16 ? 128 : aesKey.length === 24 ? 192 : 256;
  let iv: Buffer;
  let ciphertext: Buffer;
  if (enc === 'AES-GCM') {
    iv = randomBytes(GCM_IV_LENGTH);
    const cipher = createCipheriv(`aes-${bits}-gcm`, aesKey, iv, { authTagLength: GCM_TAG_LENGTH });
    cipher.setAAD(Buffer.from(String(minute), 'utf8'));
    ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  } else {
    iv = randomBytes(16);
    const cipher = createCipheriv(`aes-${bits}-cbc`, aesKey, iv);
    ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  }
  return JSON.stringify({
    encryptedKey: encryptedKey.toString('base64'), iv: iv.toString('base64'), ciphertext: ciphertext.toString('base64'),
    minute, enc, oaepHash,
  });
}

const OAEP_FILES = [
  'rsa_oaep_2048_sha1_mgf1sha1_test.json',
  'rsa_oaep_2048_sha256_mgf1sha256_test.json',
  'rsa_oaep_3072_sha256_mgf1sha256_test.json',
  'rsa_oaep_4096_sha256_mgf1sha256_test.json',
];

describe('wycheproof RSA-OAEP', () => {
  for (const file of OAEP_FILES) {
    withSuite<OaepGroup>(file, (t, suite) => {
      const failures: string[] = [];
      const counts = { checked: 0, valid: 0, validKeySizeRejected: 0, labelRejected: 0, invalid: 0, acceptable: 0, envelopesOpened: 0 };
      for (const group of suite.testGroups) {
        assert.ok(group.sha === 'SHA-256' || group.sha === 'SHA-1', `unexpected hash ${group.sha}`);
        assert.equal(group.mgf, 'MGF1');
        assert.equal(group.mgfSha, group.sha);
        const hash: OaepHash = group.sha;
        const key: KeyObject = createPrivateKey(group.privateKeyPem);
        const unwrapper = rsaOaepUnwrapper(key);
        for (const v of group.tests) {
          counts.checked++;
          const ct = hex(v.ct);
          const msg = hex(v.msg);
          const label = hex(v.label);
          const fail = (what: string, why: string | null): void => {
            if (why !== null) failures.push(`tc ${v.tcId} (${v.result}, ${v.comment || 'no comment'}): ${what} ${why}`);
          };
          if (v.result === 'valid' && label.length === 0) {
            counts.valid++;
            fail('raw decrypt', equalsOrWhy(() => rsaOaepDecrypt(key, ct, hash), msg));
            if (AES_KEY_LENGTHS.includes(msg.length)) {
              fail('unwrap', equalsOrWhy(() => unwrapper.unwrap(ct, hash), msg));
              for (const enc of ['AES-CBC', 'AES-GCM'] as const) {
                const text = `{"wycheproof":${v.tcId},"enc":"${enc}"}`;
                try {
                  const opened = openEnvelope(envelopeAround(ct, hash, msg, enc, text), unwrapper);
                  if (opened.plaintext === text) counts.envelopesOpened++;
                  else fail(`envelope ${enc}`, `opened to ${opened.plaintext}`);
                } catch (err) {
                  fail(`envelope ${enc}`, `threw ${String(err)}`);
                }
              }
            } else {
              counts.validKeySizeRejected++;
              fail('unwrap (AES key size rule)', invalidOrWhy(() => unwrapper.unwrap(ct, hash)));
            }
          } else if (v.result === 'valid') {
            counts.labelRejected++;
            // The vector itself is sound: node decrypts it when told the label...
            fail('node with label', equalsOrWhy(() => privateDecrypt(
              { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash === 'SHA-1' ? 'sha1' : 'sha256', oaepLabel: label }, ct), msg));
            // ...but SPEC §5 allows only the empty label.
            fail('raw decrypt (non-empty label)', invalidOrWhy(() => rsaOaepDecrypt(key, ct, hash)));
            fail('unwrap (non-empty label)', invalidOrWhy(() => unwrapper.unwrap(ct, hash)));
          } else if (v.result === 'invalid') {
            counts.invalid++;
            fail('raw decrypt', invalidOrWhy(() => rsaOaepDecrypt(key, ct, hash)));
            fail('unwrap', invalidOrWhy(() => unwrapper.unwrap(ct, hash)));
          } else {
            counts.acceptable++;
            for (const [what, fn] of [['raw decrypt', () => rsaOaepDecrypt(key, ct, hash)], ['unwrap', () => unwrapper.unwrap(ct, hash)]] as const) {
              try { fn(); } catch (err) { if (!(err instanceof InvalidEnvelopeError)) fail(what, `threw ${String(err)}`); }
            }
          }
        }
      }
      report(t, file, counts);
      assert.deepEqual(failures, []);
      assert.ok(counts.checked > 0, 'no vectors checked');
      assert.equal(counts.checked, suite.numberOfTests);
      assert.ok(counts.envelopesOpened > 0, 'no full envelope opened');
    });
  }
});

function aesCase(
  failures: string[], enc: ContentEncryption, v: { tcId: number; comment: string; result: Result; msg: string },
  inRules: boolean, decrypt: () => Buffer,
): 'valid' | 'invalid' | 'outside' | 'acceptable' {
  const fail = (why: string | null): void => {
    if (why !== null) failures.push(`${enc} tc ${v.tcId} (${v.result}, ${v.comment || 'no comment'}): ${why}`);
  };
  if (!inRules) {
    // Sound for the bare primitive maybe, but not an envelope SPEC §5 accepts.
    fail(invalidOrWhy(decrypt));
    return 'outside';
  }
  if (v.result === 'valid') {
    fail(equalsOrWhy(decrypt, hex(v.msg)));
    return 'valid';
  }
  if (v.result === 'invalid') {
    fail(invalidOrWhy(decrypt));
    return 'invalid';
  }
  try {
    const got = decrypt();
    if (!got.equals(hex(v.msg))) fail(`gave ${got.toString('hex')}`);
  } catch (err) {
    if (!(err instanceof InvalidEnvelopeError)) fail(`threw ${String(err)}`);
  }
  return 'acceptable';
}

/** Runs every vector of an AES suite through `check` (which says whether it is within SPEC §5, and how to decrypt it). */
function checkAesSuite<T extends { tcId: number; comment: string; result: Result; msg: string }>(
  file: string,
  enc: ContentEncryption,
  check: (v: T) => { inRules: boolean; decrypt: () => Buffer },
): void {
  withSuite<{ tests: T[] }>(file, (t, suite) => {
    const failures: string[] = [];
    const counts = { checked: 0, valid: 0, invalid: 0, outside: 0, acceptable: 0 };
    for (const group of suite.testGroups) {
      for (const v of group.tests) {
        counts.checked++;
        const { inRules, decrypt } = check(v);
        counts[aesCase(failures, enc, v, inRules, decrypt)]++;
      }
    }
    report(t, file, counts);
    assert.deepEqual(failures, []);
    assert.ok(counts.checked > 0, 'no vectors checked');
    assert.equal(counts.checked, suite.numberOfTests);
  });
}

describe('wycheproof AES', () => {
  checkAesSuite<CbcTest>('aes_cbc_pkcs5_test.json', 'AES-CBC', (v) => {
    const key = hex(v.key);
    const iv = hex(v.iv);
    return {
      inRules: AES_KEY_LENGTHS.includes(key.length) && iv.length === 16,
      decrypt: () => decryptContent('AES-CBC', key, iv, hex(v.ct), Buffer.alloc(0)),
    };
  });

  checkAesSuite<GcmTest>('aes_gcm_test.json', 'AES-GCM', (v) => {
    const key = hex(v.key);
    const iv = hex(v.iv);
    const tag = hex(v.tag);
    // The WebCrypto layout: ciphertext || tag.
    const data = Buffer.concat([hex(v.ct), tag]);
    return {
      inRules: AES_KEY_LENGTHS.includes(key.length) && iv.length === GCM_IV_LENGTH && tag.length === GCM_TAG_LENGTH,
      decrypt: () => decryptContent('AES-GCM', key, iv, data, hex(v.aad)),
    };
  });
});
