/**
 * The client library without a server: envelopes opened by the server's own envelope layer,
 * base64, the retry policy, and the client's answers to every kind of reply through a fake fetch.
 * The live server and independent implementations are in live.test.ts and test/interop.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { answers, Code, Message, type Answer } from '../../src/protocol/answers.js';
import { openEnvelope, rsaOaepUnwrapper, type ContentEncryption as ServerEnc, type OaepHash as ServerHash } from '../../src/envelope/index.js';
import {
  apiEndpoint,
  backoffDelay,
  buildEnvelope,
  clientKey,
  decodeBase64,
  DEFAULT_RETRY_POLICY,
  encodeBase64,
  importPublicKey,
  parseRetryAfter,
  SecureMessageClient,
  SecureMessageError,
  unixMinute,
  type ContentEncryption,
  type OaepHash,
} from '../../src/client/index.js';

// The client spells SPEC §5's names itself (its types must not pull in node:crypto); these fail to compile if they drift.
const sameEnc: [ContentEncryption, ServerEnc] = ['AES-GCM' as ServerEnc, 'AES-CBC' as ContentEncryption];
const sameHash: [OaepHash, ServerHash] = ['SHA-1' as ServerHash, 'SHA-256' as OaepHash];
void sameEnc;
void sameHash;

const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PEM = publicKey.export({ type: 'spki', format: 'pem' }).toString();
const unwrapper = rsaOaepUnwrapper(privateKey);
const UUID = '0f8fad5b-d9cb-469f-a165-70867728950e';
const KEY = `${UUID}phone-01`;

describe('envelopes', () => {
  test('every enc and OAEP hash opens with the server envelope layer; GCM is the default', async () => {
    for (const enc of ['AES-GCM', 'AES-CBC'] as const) {
      for (const oaepHash of ['SHA-256', 'SHA-1'] as const) {
        const envelope = await buildEnvelope(PEM, '{"t":21.5,"s":"é✓😀"}', { enc, oaepHash, minute: 29000000 });
        const opened = openEnvelope(envelope.message, unwrapper);
        assert.equal(opened.plaintext, '{"t":21.5,"s":"é✓😀"}');
        assert.equal(opened.enc, enc);
        assert.equal(opened.minute, 29000000);
      }
    }
    const fields = JSON.parse((await buildEnvelope(PEM, 'x')).message) as Record<string, unknown>;
    assert.equal(fields.enc, 'AES-GCM');
    assert.equal(fields.oaepHash, 'SHA-256');
    assert.ok(Math.abs(Number(fields.minute) - unixMinute()) <= 1);
    assert.equal(decodeBase64(String(fields.iv)).length, 12);
    assert.equal(decodeBase64(String(fields.encryptedKey)).length, 256);
  });

  test('any text and any minute round-trip (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: 'grapheme', maxLength: 200 }),
        fc.oneof(fc.maxSafeInteger(), fc.string({ unit: 'grapheme-ascii', maxLength: 64 }).filter((s) => !s.includes('\0'))),
        fc.constantFrom<ContentEncryption>('AES-GCM', 'AES-CBC'),
        async (text, minute, enc) => {
          const opened = openEnvelope((await buildEnvelope(PEM, text, { minute, enc })).message, unwrapper);
          assert.equal(opened.plaintext, text);
          assert.equal(opened.minute, minute);
        },
      ),
      { numRuns: 60 },
    );
  });

  test('with AES-GCM the minute is authenticated: changing it makes the envelope invalid', async () => {
    const envelope = JSON.parse((await buildEnvelope(PEM, 'x', { minute: 100 })).message) as Record<string, unknown>;
    assert.throws(() => openEnvelope(JSON.stringify({ ...envelope, minute: 101 }), unwrapper), { name: 'InvalidEnvelopeError' });
  });

  test('bytes are sent as they are, but must be UTF-8; bad minutes and lone surrogates are refused before anything is sent', async () => {
    const bytes = new TextEncoder().encode('\uFEFFbom kept');
    assert.equal(openEnvelope((await buildEnvelope(PEM, bytes)).message, unwrapper).plaintext, '\uFEFFbom kept');
    for (const [payload, minute] of [
      [new Uint8Array([0xff, 0xfe]), 1],
      ['\uD800', 1],
      ['x', 1.5],
      ['x', 'x'.repeat(65)],
      ['x', 'a\0b'],
      ['x', Number.MAX_SAFE_INTEGER + 1],
    ] as const) {
      await assert.rejects(buildEnvelope(PEM, payload, { minute }), (e: SecureMessageError) => e.code === 'INVALID_ARGUMENT');
    }
    await assert.rejects(buildEnvelope('not a key', 'x'), (e: SecureMessageError) => e.code === 'INVALID_ARGUMENT');
    const sha1Key = await importPublicKey(PEM, 'SHA-1');
    await assert.rejects(buildEnvelope(sha1Key, 'x', { oaepHash: 'SHA-256' }), /imported for SHA-1/);
    assert.equal(openEnvelope((await buildEnvelope(sha1Key, 'y', { oaepHash: 'SHA-1' })).message, unwrapper).plaintext, 'y');
  });
});

describe('base64, endpoint, key', () => {
  test('encodeBase64 matches Buffer; decodeBase64 takes both alphabets, padded or not', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100_000 }), (bytes) => {
        const text = encodeBase64(bytes);
        assert.equal(text, Buffer.from(bytes).toString('base64'));
        assert.deepEqual(decodeBase64(text), bytes);
        assert.deepEqual(decodeBase64(Buffer.from(bytes).toString('base64url')), bytes);
      }),
      { numRuns: 50 },
    );
  });

  test('a base URL gets /api; an /api URL is kept; other schemes are refused', () => {
    assert.equal(apiEndpoint('http://127.0.0.1:8000').href, 'http://127.0.0.1:8000/api');
    assert.equal(apiEndpoint('https://example.com/sms/').href, 'https://example.com/sms/api');
    assert.equal(apiEndpoint('https://example.com/sms/api').href, 'https://example.com/sms/api');
    assert.throws(() => apiEndpoint('ftp://example.com'));
    assert.throws(() => new SecureMessageClient({ server: 'nope', key: KEY }), (e: SecureMessageError) => e.code === 'INVALID_ARGUMENT');
    assert.throws(() => new SecureMessageClient({ server: 'http://x', key: '' }), (e: SecureMessageError) => e.code === 'INVALID_ARGUMENT');
  });

  test('clientKey joins and checks the device id grammar', () => {
    assert.equal(clientKey(UUID, 'phone-01'), KEY);
    assert.throws(() => clientKey(UUID, 'bad/char'), (e: SecureMessageError) => e.code === 'INVALID_ARGUMENT');
    assert.throws(() => clientKey(UUID, 'x'.repeat(65)));
  });
});

describe('retry policy', () => {
  test('full jitter under a doubling ceiling, capped; Retry-After is a floor', () => {
    const policy = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 100, maxDelayMs: 1000 };
    assert.equal(backoffDelay(policy, 0, undefined, () => 0.999), 99);
    assert.equal(backoffDelay(policy, 3, undefined, () => 0.5), 400);
    assert.equal(backoffDelay(policy, 10, undefined, () => 0.999), 999);
    assert.equal(backoffDelay(policy, 0, 2000, () => 0), 2000);
    assert.equal(backoffDelay(policy, 0, 2000, () => 0.5), 2050);
  });

  test('Retry-After as seconds or an HTTP date', () => {
    assert.equal(parseRetryAfter('5'), 5000);
    assert.equal(parseRetryAfter(' 0 '), 0);
    const now = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:07 GMT', now), 7000);
    assert.equal(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now), 0);
    assert.equal(parseRetryAfter('soon'), undefined);
    assert.equal(parseRetryAfter(null), undefined);
  });
});

/** A scripted server: each call takes the next step; every request's fields are recorded. */
function fakeServer(steps: Array<Answer | Error | { status: number; text: string; headers?: Record<string, string> }>) {
  const requests: Array<Record<string, string>> = [];
  const fetch = async (input: string, init: RequestInit): Promise<Response> => {
    requests.push(Object.fromEntries(new URLSearchParams(String(init.body))));
    const step = steps.shift();
    if (step === undefined) throw new Error('fake server: no more steps');
    if (step instanceof Error) throw step;
    if ('text' in step) return new Response(step.text, { status: step.status, headers: step.headers });
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (step.retryAfter !== undefined) headers['retry-after'] = String(step.retryAfter);
    return new Response(JSON.stringify(step.body), { status: step.status, headers });
  };
  const sleeps: number[] = [];
  const client = (extra: Partial<ConstructorParameters<typeof SecureMessageClient>[0]> = {}) =>
    new SecureMessageClient({
      server: 'http://device-test.invalid',
      key: KEY,
      fetch,
      sleep: async (ms) => void sleeps.push(ms),
      random: () => 0.5,
      ...extra,
    });
  return { requests, sleeps, client };
}

const SESSION = { publicKey: PEM, name: 'Phone' };
const ID = 'a'.repeat(64);

describe('client answers, through a fake fetch', () => {
  test('send without a session authenticates first, then submits; onSession sees the key', async () => {
    const seen: unknown[] = [];
    const fake = fakeServer([answers.sessionCreated(PEM, 'Phone'), answers.delivered(ID)]);
    const result = await fake.client({ onSession: (s) => void seen.push(s) }).send('hello', { minute: 7 });
    assert.deepEqual(result, { id: ID, duplicate: false, minute: 7 });
    assert.deepEqual(fake.requests.map((r) => r.status ?? 'message'), ['on', 'message']);
    assert.deepEqual(seen, [SESSION]);
    assert.equal(openEnvelope(fake.requests[1]!.message!, unwrapper).plaintext, 'hello');
  });

  test('503 then 429 with Retry-After are waited out (Retry-After plus jitter), then delivered', async () => {
    const fake = fakeServer([answers.unavailable(), answers.tooManyRequests(2), answers.delivered(ID)]);
    const result = await fake.client({ session: SESSION, retry: { baseDelayMs: 100 } }).send('x');
    assert.equal(result.id, ID);
    assert.deepEqual(fake.sleeps, [5000 + 50, 2000 + 100]);
    assert.equal(fake.requests[0]!.message, fake.requests[2]!.message, 'the same envelope every time');
  });

  test('attempts are bounded: the last 429 becomes RateLimitedError with the server\'s Retry-After', async () => {
    const fake = fakeServer([answers.tooManyRequests(1), answers.tooManyRequests(1), answers.tooManyRequests(3)]);
    await assert.rejects(fake.client({ session: SESSION, retry: { attempts: 3 } }).send('x'), (e: SecureMessageError) => {
      assert.equal(e.code, 'RATE_LIMITED');
      assert.equal(e.retryable, true);
      assert.equal(e.status, 429);
      assert.equal(e.retryAfterMs, 3000);
      return true;
    });
    assert.equal(fake.requests.length, 3);
  });

  test('a Retry-After longer than maxRetryAfterMs is not waited out', async () => {
    const fake = fakeServer([answers.unavailable()]);
    await assert.rejects(fake.client({ session: SESSION, retry: { maxRetryAfterMs: 1000 } }).send('x'), (e: SecureMessageError) => e.code === 'UNAVAILABLE' && e.retryAfterMs === 5000);
    assert.deepEqual(fake.sleeps, []);
  });

  test('a lost answer resends the very same envelope, and a duplicate then counts as delivered', async () => {
    const fake = fakeServer([new TypeError('fetch failed'), answers.duplicate(ID)]);
    const result = await fake.client({ session: SESSION }).send('x');
    assert.deepEqual(result, { id: ID, duplicate: true, minute: result.minute });
    assert.equal(fake.requests[0]!.message, fake.requests[1]!.message);
    assert.equal(fake.sleeps.length, 1);
  });

  test('no answer on every attempt is NetworkError; a timeout is a lost answer too', async () => {
    const fake = fakeServer([new TypeError('a'), new TypeError('b')]);
    await assert.rejects(fake.client({ session: SESSION, retry: { attempts: 2 } }).send('x'), (e: SecureMessageError) => e.code === 'NETWORK' && e.retryable);
    const hanging = new SecureMessageClient({
      server: 'http://device-test.invalid',
      key: KEY,
      session: SESSION,
      timeoutMs: 50,
      retry: { attempts: 2, baseDelayMs: 1 },
      fetch: (input, init) =>
        new Promise((resolve, reject) => init.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')))),
    });
    await assert.rejects(hanging.send('x'), (e: SecureMessageError) => e.code === 'NETWORK' && /within 50 ms/.test(e.message));
  });

  test("the caller's AbortSignal stops at once, also during a back-off", async () => {
    const controller = new AbortController();
    const fake = fakeServer([answers.unavailable()]);
    const client = fake.client({ session: SESSION, sleep: undefined });
    const pending = client.send('x', { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await assert.rejects(pending, (e: SecureMessageError) => e.code === 'ABORTED');
  });

  test('not found on send: a new auth and one resend; not found again is NotFoundError', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const fake = fakeServer([answers.notFound(), answers.sessionCreated(other, 'Phone'), answers.delivered(ID)]);
    const client = fake.client({ session: SESSION });
    assert.equal((await client.send('x', { minute: 3 })).id, ID);
    assert.equal(client.session?.publicKey, other);
    const first = JSON.parse(fake.requests[0]!.message!) as { minute: number; encryptedKey: string };
    const again = JSON.parse(fake.requests[2]!.message!) as { minute: number; encryptedKey: string };
    assert.equal(again.minute, first.minute, 'the same minute, so the id is the same');

    const twice = fakeServer([answers.notFound(), answers.sessionCreated(PEM, 'Phone'), answers.notFound()]);
    await assert.rejects(twice.client({ session: SESSION }).send('x'), (e: SecureMessageError) => e.code === 'NOT_FOUND');
  });

  test('already auth while holding no key: logout, then auth again; twice is AlreadyAuthError', async () => {
    const fake = fakeServer([answers.alreadyAuth(), answers.deleted(), answers.sessionCreated(PEM, 'Phone')]);
    const client = fake.client();
    assert.deepEqual(await client.auth(), SESSION);
    assert.deepEqual(fake.requests.map((r) => r.status), ['on', 'off', 'on']);

    const held = fakeServer([answers.alreadyAuth()]);
    assert.deepEqual(await held.client({ session: SESSION }).auth(), SESSION, 'a held key is kept');

    const race = fakeServer([answers.alreadyAuth(), answers.notFound(), answers.alreadyAuth()]);
    await assert.rejects(race.client().auth(), (e: SecureMessageError) => e.code === 'ALREADY_AUTH');
  });

  test('concurrent sends without a session share one auth', async () => {
    const fake = fakeServer([answers.sessionCreated(PEM, 'Phone'), answers.delivered(ID), answers.delivered('b'.repeat(64))]);
    const client = fake.client();
    const results = await Promise.all([client.send('one'), client.send('two')]);
    assert.equal(results.length, 2);
    assert.equal(fake.requests.filter((r) => r.status === 'on').length, 1);
  });

  test('every other answer is a typed error with a stable code', async () => {
    const cases: Array<[Parameters<typeof fakeServer>[0][number], string]> = [
      [answers.expired(), 'EXPIRED'],
      [answers.badRequest('missing key'), 'BAD_REQUEST'],
      [answers.badRequest('body too large', 413), 'BAD_REQUEST'],
      [{ status: 200, text: '<html>hello</html>' }, 'PROTOCOL'],
      [{ status: 200, text: '{"message":"?","code":9}' }, 'PROTOCOL'],
      [{ status: 404, text: 'nope' }, 'PROTOCOL'],
    ];
    for (const [step, code] of cases) {
      const fake = fakeServer([step]);
      await assert.rejects(fake.client({ session: SESSION }).send('x'), (e: unknown) => {
        assert.ok(e instanceof SecureMessageError);
        assert.equal(e.code, code);
        assert.equal(e.retryable, false);
        return true;
      });
    }
    const bad = fakeServer([answers.badRequest('missing key')]);
    await assert.rejects(bad.client({ session: SESSION }).send('x'), /missing key/);
  });

  test('invalid message: the session was replaced, so logout, a new auth and one resend; invalid again is InvalidMessageError', async () => {
    const fake = fakeServer([
      answers.invalidMessage(),
      answers.deleted(),
      answers.sessionCreated(PEM, 'Phone'),
      answers.invalidMessage(),
    ]);
    await assert.rejects(fake.client({ session: SESSION }).send('x'), (e: unknown) => {
      assert.ok(e instanceof SecureMessageError);
      assert.equal(e.code, 'INVALID_MESSAGE');
      assert.equal(e.retryable, false);
      return true;
    });
    assert.deepEqual(fake.requests.map((r) => r.status), [undefined, 'off', 'on', undefined]);
    const recovered = fakeServer([answers.invalidMessage(), answers.deleted(), answers.sessionCreated(PEM, 'Phone'), answers.delivered(ID)]);
    assert.equal((await recovered.client({ session: SESSION }).send('x')).id, ID);
  });

  test('the secret goes with every auth and logout, never with a submit', async () => {
    const fake = fakeServer([answers.sessionCreated(PEM, 'Phone'), answers.delivered(ID), answers.deleted()]);
    const client = fake.client({ secret: 's3cret' });
    await client.send('x');
    await client.logout();
    assert.deepEqual(fake.requests.map((r) => [r.status, r.secret]), [['on', 's3cret'], [undefined, undefined], ['off', 's3cret']]);
    assert.throws(() => fake.client({ secret: '' }), (e: SecureMessageError) => e.code === 'INVALID_ARGUMENT');
  });

  test("a gateway's HTML 502 is retried like an outage", async () => {
    const fake = fakeServer([{ status: 502, text: '<html>bad gateway</html>' }, answers.delivered(ID)]);
    assert.equal((await fake.client({ session: SESSION }).send('x')).id, ID);
  });

  test('auth of an unknown device is NotFoundError; logout is true, then false', async () => {
    const fake = fakeServer([answers.notFound()]);
    await assert.rejects(fake.client().auth(), (e: SecureMessageError) => e.code === 'NOT_FOUND' && e.answer?.code === Code.notFound);
    const out = fakeServer([answers.deleted(), answers.notFound()]);
    const client = out.client({ session: SESSION });
    assert.equal(await client.logout(), true);
    assert.equal(client.session, null);
    assert.equal(await client.logout(), false);
    assert.equal(Message.deleted, 'deleted');
  });
});
