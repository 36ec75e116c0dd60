/**
 * Issue 5: the caches on the message path. Behaviour only: bounded, evicted on logout and expiry,
 * never shared between sessions (not even two sessions of one client key), never holding the
 * result of a failed unwrap, and the "invalid message" answer unchanged by any of it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import pino from 'pino';
import { CachingUnwrapper } from '../../src/envelope/caching-unwrap.js';
import { InvalidEnvelopeError } from '../../src/envelope/errors.js';
import type { KeyUnwrapper, OaepHash } from '../../src/envelope/key-unwrap.js';
import { answers, Code } from '../../src/protocol/answers.js';
import { ProtocolService } from '../../src/protocol/service.js';
import { SessionKeyCache } from '../../src/session/key-cache.js';
import type { SessionKeyPair, SessionKeySource } from '../../src/session/key-pair.js';
import type { SessionRecord } from '../../src/store/store.js';
import { openFixtureAcceptedStore, openFixtureStores, TEST_UUID } from '../helpers/embedded.js';
import { encryptEnvelope } from '../helpers/encrypt.js';
import { makeDataDir } from '../helpers/server-process.js';

/** Answers with the first byte repeated; refuses ciphertexts that start with 0xff. Counts its calls. */
class CountingUnwrapper implements KeyUnwrapper {
  calls = 0;
  unwrap(encryptedKey: Buffer, oaepHash: OaepHash): Buffer {
    this.calls += 1;
    if (encryptedKey[0] === 0xff) throw new InvalidEnvelopeError('rsa-oaep: decryption failed');
    return Buffer.alloc(oaepHash === 'SHA-1' ? 16 : 32, encryptedKey[0]);
  }
}

function pairs(n: number): SessionKeyPair[] {
  return Array.from({ length: n }, () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicExponent: 65537,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    return { publicKeyPem: publicKey, privateKeyPem: privateKey };
  });
}

describe('caching unwrapper', () => {
  test('unwraps a given (bytes, hash) once, and returns copies', () => {
    const inner = new CountingUnwrapper();
    const cache = new CachingUnwrapper(inner, 4);
    const first = cache.unwrap(Buffer.from([1, 2, 3]), 'SHA-256');
    first.fill(9); // a caller scribbling on its key must not change the next answer
    const second = cache.unwrap(Buffer.from([1, 2, 3]), 'SHA-256');
    assert.deepEqual(second, Buffer.alloc(32, 1));
    assert.equal(inner.calls, 1);
    cache.unwrap(Buffer.from([1, 2, 3]), 'SHA-1');
    assert.equal(inner.calls, 2, 'the hash is part of the cache key');
    cache.unwrap(Buffer.from([1, 2, 4]), 'SHA-256');
    assert.equal(inner.calls, 3, 'so is every byte');
  });

  test('is bounded, dropping the least recently used key', () => {
    const inner = new CountingUnwrapper();
    const cache = new CachingUnwrapper(inner, 2);
    cache.unwrap(Buffer.from([1]), 'SHA-256');
    cache.unwrap(Buffer.from([2]), 'SHA-256');
    cache.unwrap(Buffer.from([1]), 'SHA-256'); // 1 is now the most recent
    cache.unwrap(Buffer.from([3]), 'SHA-256'); // evicts 2
    assert.equal(cache.size, 2);
    assert.equal(inner.calls, 3);
    cache.unwrap(Buffer.from([1]), 'SHA-256');
    assert.equal(inner.calls, 3);
    cache.unwrap(Buffer.from([2]), 'SHA-256');
    assert.equal(inner.calls, 4);
  });

  test('a failed unwrap is never remembered: the same input is refused again, by the inner unwrapper', () => {
    const inner = new CountingUnwrapper();
    const cache = new CachingUnwrapper(inner, 4);
    for (let i = 0; i < 3; i++) assert.throws(() => cache.unwrap(Buffer.from([0xff, 1]), 'SHA-256'), InvalidEnvelopeError);
    assert.equal(inner.calls, 3);
    assert.equal(cache.size, 0);
  });

  test('clear forgets everything', () => {
    const inner = new CountingUnwrapper();
    const cache = new CachingUnwrapper(inner, 4);
    cache.unwrap(Buffer.from([5]), 'SHA-256');
    cache.clear();
    assert.equal(cache.size, 0);
    cache.unwrap(Buffer.from([5]), 'SHA-256');
    assert.equal(inner.calls, 2);
  });
});

describe('session key cache', () => {
  const [a, b, c] = pairs(3) as [SessionKeyPair, SessionKeyPair, SessionKeyPair];
  const record = (pair: SessionKeyPair, createdAt = '2026-01-01T00:00:00.000Z'): SessionRecord => ({
    user_id: TEST_UUID,
    device_id: 'phone-01',
    device_name: 'Phone',
    private_key: pair.privateKeyPem,
    created_at: createdAt,
  });

  test('parses a session key once', () => {
    const cache = new SessionKeyCache({ maxSessions: 4, maxKeysPerSession: 2, idleMs: 0 });
    const first = cache.unwrapperFor('k1', record(a));
    assert.equal(cache.unwrapperFor('k1', record(a)), first);
    assert.equal(cache.stats().sessions, 1);
  });

  test('another session under the same client key (new key, or same key with another created_at) replaces the entry', () => {
    const cache = new SessionKeyCache({ maxSessions: 4, maxKeysPerSession: 2, idleMs: 0 });
    const first = cache.unwrapperFor('k1', record(a));
    assert.notEqual(cache.unwrapperFor('k1', record(b)), first);
    const third = cache.unwrapperFor('k1', record(b, '2026-01-02T00:00:00.000Z'));
    assert.notEqual(cache.unwrapperFor('k1', record(b)), third);
    assert.equal(cache.stats().sessions, 1);
  });

  test('holds at most maxSessions, dropping the least recently used', () => {
    const cache = new SessionKeyCache({ maxSessions: 2, maxKeysPerSession: 2, idleMs: 0 });
    const first = cache.unwrapperFor('k1', record(a));
    cache.unwrapperFor('k2', record(b));
    cache.unwrapperFor('k1', record(a));
    cache.unwrapperFor('k3', record(c)); // evicts k2
    assert.equal(cache.stats().sessions, 2);
    assert.equal(cache.unwrapperFor('k1', record(a)), first);
  });

  test('drops entries idle for longer than idleMs', () => {
    let now = 1_000_000;
    const cache = new SessionKeyCache({ maxSessions: 10, maxKeysPerSession: 2, idleMs: 1000, now: () => now });
    const first = cache.unwrapperFor('k1', record(a));
    now += 500;
    cache.unwrapperFor('k2', record(b));
    now += 600; // k1 idle 1100 ms, k2 600 ms
    cache.unwrapperFor('k3', record(c));
    assert.equal(cache.stats().sessions, 2);
    assert.notEqual(cache.unwrapperFor('k1', record(a)), first);
  });

  test('maxSessions 0 caches nothing', () => {
    const cache = new SessionKeyCache({ maxSessions: 0, maxKeysPerSession: 2, idleMs: 0 });
    assert.notEqual(cache.unwrapperFor('k1', record(a)), cache.unwrapperFor('k1', record(a)));
    assert.equal(cache.stats().sessions, 0);
  });

  test('an unreadable stored key is an error of ours, not an invalid envelope, and is not cached', () => {
    const cache = new SessionKeyCache({ maxSessions: 4, maxKeysPerSession: 2, idleMs: 0 });
    const broken = { ...record(a), private_key: '-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n' };
    assert.throws(
      () => cache.unwrapperFor('k1', broken),
      (error: unknown) => error instanceof Error && !(error instanceof InvalidEnvelopeError) && /unreadable/.test(error.message),
    );
    assert.equal(cache.stats().sessions, 0);
  });
});

describe('protocol service with the caches', () => {
  const TTL = 3600;
  const key = `${TEST_UUID}phone-01`;
  const data = makeDataDir();
  const stores = openFixtureStores(data.dir);
  const submits = openFixtureAcceptedStore(data.dir);
  const supply = pairs(3);
  let handedOut = 0;
  const keys: SessionKeySource = {
    take: async () => {
      const pair = supply[handedOut++ % supply.length];
      assert.ok(pair);
      return pair;
    },
  };
  let now = Date.now();
  /** One server process over the shared stores: its own cache, and its own clock when given. */
  const serverProcess = (cache: SessionKeyCache, clock?: () => number): ProtocolService =>
    new ProtocolService({
      directory: stores.directory,
      sessions: stores.sessions,
      accepted: submits.accepted,
      keys,
      settings: { userIdLength: 36, sessionTtlSeconds: TTL, messageTtlSeconds: 0, minuteWindow: 0 },
      log: pino({ level: 'silent' }),
      keyCache: cache,
      now: clock,
    });
  const keyCache = new SessionKeyCache({ maxSessions: 16, maxKeysPerSession: 4, idleMs: TTL * 1000, now: () => now });
  const service = serverProcess(keyCache, () => now);

  async function authPem(): Promise<string> {
    const outcome = await service.auth(key);
    assert.equal(outcome.answer.body.code, Code.ok, JSON.stringify(outcome.answer.body));
    return outcome.answer.body.message;
  }

  before(async () => {
    await stores.directory.addUser(TEST_UUID);
    await stores.directory.addDevice(TEST_UUID, 'phone-01', 'Phone');
  });
  after(() => {
    submits.close();
    stores.db.close();
    data.remove();
  });

  test('messages that reuse one wrapped key cost one unwrap; logout evicts the session', async () => {
    const pem = await authPem();
    const aesKey = randomBytes(32);
    for (const text of ['one', 'two', 'three']) {
      const outcome = await service.submit(key, encryptEnvelope(pem, text, { aesKey }));
      assert.equal(outcome.answer.body.message, 'delivered');
    }
    // Each envelope wraps the same AES key afresh (OAEP is randomised), so reuse means the same text:
    const envelope = JSON.parse(encryptEnvelope(pem, 'four', { aesKey })) as Record<string, unknown>;
    const again = encryptEnvelope(pem, 'five', { aesKey });
    const sameWrap = JSON.stringify({ ...(JSON.parse(again) as object), encryptedKey: envelope.encryptedKey });
    assert.equal((await service.submit(key, JSON.stringify(envelope))).answer.body.message, 'delivered');
    assert.equal((await service.submit(key, sameWrap)).answer.body.message, 'delivered');
    assert.deepEqual(keyCache.stats(), { sessions: 1, aesKeys: 4 }, 'four wraps seen, the fifth message reused one');
    assert.equal((await service.submit(key, encryptEnvelope(pem, 'six', { aesKey }))).answer.body.message, 'delivered');
    assert.deepEqual(keyCache.stats(), { sessions: 1, aesKeys: 4 }, 'bounded at 4 AES keys per session');

    assert.equal((await service.logout(key)).answer.body.message, 'deleted');
    assert.deepEqual(keyCache.stats(), { sessions: 0, aesKeys: 0 });
  });

  test('a new session for the same client key never uses the old one\'s cached keys', async () => {
    const oldPem = await authPem();
    const aesKey = randomBytes(32);
    const oldEnvelope = encryptEnvelope(oldPem, 'for the old session', { aesKey });
    assert.equal((await service.submit(key, oldEnvelope)).answer.body.message, 'delivered');
    assert.equal(keyCache.stats().aesKeys, 1);

    // Another worker process logs the device out and back in: this process's cache sees none of it.
    const otherWorker = serverProcess(new SessionKeyCache({ maxSessions: 16, maxKeysPerSession: 4, idleMs: TTL * 1000 }));
    assert.equal((await otherWorker.logout(key)).answer.body.message, 'deleted');
    const newPem = (await otherWorker.auth(key)).answer.body.message;
    assert.equal(keyCache.stats().aesKeys, 1, 'the old entry is still here');
    assert.notEqual(newPem, oldPem);

    // The old wrapped key is in no cache the new session can reach: it is RSA-decrypted with the new key and fails.
    const replay = JSON.parse(encryptEnvelope(oldPem, 'replayed wrap', { aesKey })) as Record<string, unknown>;
    replay.encryptedKey = (JSON.parse(oldEnvelope) as Record<string, unknown>).encryptedKey;
    const refused = await service.submit(key, JSON.stringify(replay));
    assert.deepEqual(refused.answer, answers.invalidMessage());
    assert.equal((await service.submit(key, encryptEnvelope(newPem, 'for the new session'))).answer.body.message, 'delivered');
    await service.logout(key);
  });

  test('an invalid envelope poisons nothing, and every refusal is the same answer', async () => {
    const pem = await authPem();
    const aesKey = randomBytes(32);
    const good = JSON.parse(encryptEnvelope(pem, 'good', { aesKey, enc: 'AES-GCM' })) as Record<string, string>;
    const tampered = { ...good, ciphertext: Buffer.from(good.ciphertext ?? '', 'base64').fill(0, 0, 16).toString('base64') };
    const garbageKey = { ...good, encryptedKey: randomBytes(256).toString('base64') };
    const refusals = [
      await service.submit(key, JSON.stringify(garbageKey)),
      await service.submit(key, JSON.stringify(garbageKey)),
      await service.submit(key, JSON.stringify(tampered)),
      await service.submit(key, 'not json'),
      await service.submit(key, JSON.stringify({ ...good, encryptedKey: '' })),
    ];
    for (const refusal of refusals) assert.deepEqual(refusal.answer, answers.invalidMessage());
    assert.equal(keyCache.stats().aesKeys, 1, 'only the unwrap that succeeded (under the tampered ciphertext) is kept');
    assert.equal((await service.submit(key, JSON.stringify(good))).answer.body.message, 'delivered');
    await service.logout(key);
  });

  test('an expired session is evicted when it is next asked for', async () => {
    const pem = await authPem();
    assert.equal((await service.submit(key, encryptEnvelope(pem, 'before expiry'))).answer.body.message, 'delivered');
    assert.equal(keyCache.stats().sessions, 1);
    // The store compares with the real clock, so the record is made to expire there.
    stores.db.prepare('UPDATE sessions SET expires_at = 1 WHERE key = ?').run(key);
    assert.equal((await service.submit(key, encryptEnvelope(pem, 'after expiry'))).answer.body.message, 'not found');
    assert.equal(keyCache.stats().sessions, 0);
  });

  test('entries idle for a whole session TTL are dropped by later traffic', async () => {
    const pem = await authPem();
    assert.equal((await service.submit(key, encryptEnvelope(pem, 'x'))).answer.body.message, 'delivered');
    assert.equal(keyCache.stats().sessions, 1);
    now += TTL * 1000 + 1;
    keyCache.unwrapperFor('someone-else', {
      user_id: TEST_UUID,
      device_id: 'other',
      device_name: 'Other',
      private_key: (supply[0] as SessionKeyPair).privateKeyPem,
      created_at: new Date(now).toISOString(),
    });
    assert.equal(keyCache.stats().sessions, 1, 'only the new entry is left');
    keyCache.clear();
    await service.logout(key);
  });
});
