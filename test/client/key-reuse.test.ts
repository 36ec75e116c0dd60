/**
 * Issue 15: the client's AES-GCM key reuse (src/client/content-key.ts) against the real server
 * process over HTTP: one wrapped key per session, a fresh IV per message, rotation after the
 * count and the age, a new key for a new session, never for AES-CBC; the server stores every
 * message as sent, still detects duplicates, and refuses an old session's key in a new session.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createDecipheriv, privateDecrypt } from 'node:crypto';
import {
  DEFAULT_KEY_REUSE,
  InvalidArgumentError,
  MAX_MESSAGES_PER_KEY,
  SecureMessageClient,
  type ClientOptions,
  type FetchLike,
} from '../../src/client/index.js';
import { clientKey, startEmbedded, type EmbeddedFixture } from '../helpers/embedded.js';
import { postForm } from '../helpers/http.js';

interface SentEnvelope {
  encryptedKey: string;
  iv: string;
  ciphertext: string;
  minute: number | string;
  enc: string;
}

/** A fetch that passes every request on to the real one and keeps the envelopes it carried. */
function recordingFetch(sent: SentEnvelope[]): FetchLike {
  return async (input, init) => {
    const body = init?.body;
    if (body instanceof URLSearchParams) {
      const message = body.get('message');
      if (message !== null) sent.push(JSON.parse(message) as SentEnvelope);
    }
    return globalThis.fetch(input, init);
  };
}

/** Groups the envelopes by wrapped key, in the order the keys were first used. */
function byKey(sent: SentEnvelope[]): SentEnvelope[][] {
  const groups = new Map<string, SentEnvelope[]>();
  for (const envelope of sent) {
    const group = groups.get(envelope.encryptedKey) ?? [];
    group.push(envelope);
    groups.set(envelope.encryptedKey, group);
  }
  return [...groups.values()];
}

const DEVICES: Array<[string, string]> = [
  ['reuse-a', 'Reuse A'],
  ['reuse-b', 'Reuse B'],
  ['reuse-c', 'Reuse C'],
  ['reuse-d', 'Reuse D'],
  ['reuse-e', 'Reuse E'],
  ['reuse-f', 'Reuse F'],
  ['reuse-g', 'Reuse G'],
];

describe('client AES-GCM key reuse against the live server', () => {
  let fx: EmbeddedFixture;
  const client = (deviceId: string, sent: SentEnvelope[], extra: Partial<ClientOptions> = {}) =>
    new SecureMessageClient({ server: fx.server.url, key: clientKey(deviceId), fetch: recordingFetch(sent), ...extra });

  before(async () => {
    fx = await startEmbedded(DEVICES, { WORKERS: '1' });
  });
  after(async () => fx.close());

  test('by default one wrapped key per session, a fresh IV per message; every message stored as sent; duplicates still detected', async () => {
    const sent: SentEnvelope[] = [];
    const c = client('reuse-a', sent);
    const ids: string[] = [];
    for (let n = 0; n < 40; n++) {
      const payload = JSON.stringify({ n, text: 'reused key ✓' });
      const result = await c.send(payload, { minute: 1000 });
      assert.equal(result.duplicate, false);
      assert.equal((await fx.messages.get(result.id))?.payload, payload);
      ids.push(result.id);
    }
    assert.equal(new Set(ids).size, 40);
    assert.equal(byKey(sent).length, 1, 'all 40 envelopes carry the same wrapped key');
    assert.equal(new Set(sent.map((e) => e.iv)).size, 40, 'and 40 different IVs');
    assert.ok(sent.every((e) => e.enc === 'AES-GCM'));

    // The same payload and minute again, under the same key but a new IV: the same id, `duplicate`.
    const again = await c.send(JSON.stringify({ n: 7, text: 'reused key ✓' }), { minute: 1000 });
    assert.deepEqual([again.duplicate, again.id], [true, ids[7]]);
    // The same payload under another minute is another message.
    const other = await c.send(JSON.stringify({ n: 7, text: 'reused key ✓' }), { minute: 1001 });
    assert.equal(other.duplicate, false);
    assert.equal(byKey(sent).length, 1);
  });

  test('the envelopes decrypt with the one key the session unwraps, each under its own IV and minute', async () => {
    const sent: SentEnvelope[] = [];
    const c = client('reuse-b', sent);
    for (let n = 0; n < 5; n++) await c.send(`message ${n}`, { minute: 2000 + n });
    const session = await fx.sessions.get(clientKey('reuse-b'));
    assert.ok(session !== null);
    const [first] = sent;
    const aesKey = privateDecrypt(
      { key: session.private_key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      Buffer.from(first!.encryptedKey, 'base64'),
    );
    assert.equal(aesKey.length, 32, 'AES-256');
    sent.forEach((envelope, n) => {
      const data = Buffer.from(envelope.ciphertext, 'base64');
      const decipher = createDecipheriv('aes-256-gcm', aesKey, Buffer.from(envelope.iv, 'base64'));
      decipher.setAAD(Buffer.from(String(envelope.minute), 'utf8'));
      decipher.setAuthTag(data.subarray(data.length - 16));
      const plain = Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]).toString('utf8');
      assert.equal(plain, `message ${n}`);
      assert.equal(Buffer.from(envelope.iv, 'base64').length, 12, '96-bit IV');
    });
  });

  test('maxMessages: a new key after that many messages, never one more', async () => {
    const sent: SentEnvelope[] = [];
    const c = client('reuse-c', sent, { keyReuse: { maxMessages: 5 } });
    for (let n = 0; n < 12; n++) await c.send(`count ${n}`);
    assert.deepEqual(byKey(sent).map((group) => group.length), [5, 5, 2]);
    // In order: the first five under the first key, and so on.
    const keys = sent.map((e) => e.encryptedKey);
    assert.deepEqual(keys.slice(0, 5), Array(5).fill(keys[0]));
    assert.deepEqual(keys.slice(5, 10), Array(5).fill(keys[5]));
    assert.notEqual(keys[5], keys[0]);
    assert.notEqual(keys[10], keys[5]);
  });

  test('maxAgeMs: a key older than that is not used again; concurrent sends share a key within the count', async () => {
    let now = 1_000_000;
    const sent: SentEnvelope[] = [];
    const c = client('reuse-d', sent, { keyReuse: { maxAgeMs: 60_000, maxMessages: 10 }, now: () => now });
    await c.send('t0');
    now += 59_999;
    await c.send('just under the age');
    now += 1;
    await c.send('at the age: a new key');
    await c.send('same new key');
    now -= 120_000;
    await c.send('the clock went back: a new key');
    assert.deepEqual(byKey(sent).map((group) => group.length), [2, 2, 1]);

    // 25 sends at once with maxMessages 10: no key carries more than 10.
    sent.length = 0;
    const results = await Promise.all(Array.from({ length: 25 }, (_, n) => c.send(`burst ${n}`)));
    assert.equal(new Set(results.map((r) => r.id)).size, 25);
    for (const group of byKey(sent)) assert.ok(group.length <= 10, `a key carried ${group.length} messages`);
    assert.ok(byKey(sent).length >= 3);
    assert.equal(new Set(sent.map((e) => e.iv)).size, 25);
  });

  test('a new session gets a new key: after logout and auth, and after the server lost the session', async () => {
    const sent: SentEnvelope[] = [];
    const c = client('reuse-e', sent);
    await c.send('first session, 1');
    await c.send('first session, 2');
    const firstKey = sent[0]!.encryptedKey;
    assert.equal(await c.logout(), true);
    await c.send('second session');
    const secondKey = sent[2]!.encryptedKey;
    assert.notEqual(secondKey, firstKey);

    // The server loses the session (expiry): the client re-authenticates and wraps for the new key.
    assert.ok(await fx.sessions.delete(clientKey('reuse-e')));
    const result = await c.send('third session');
    assert.equal((await fx.messages.get(result.id))?.payload, 'third session');
    const last = sent.at(-1)!;
    assert.notEqual(last.encryptedKey, secondKey);
    assert.equal(sent.filter((e) => e.encryptedKey === secondKey).length, 2, 'the refused envelope, then none under that key');

    // Server side: the first session's envelope replayed into the current session is refused.
    const replay = await postForm(fx.server.url, { key: clientKey('reuse-e'), message: JSON.stringify(sent[0]) });
    assert.equal(replay.status, 400);
    assert.equal(replay.body.message, 'invalid message');
  });

  test('AES-CBC never reuses a key, and keyReuse: false wraps a new key for every GCM message too', async () => {
    const sent: SentEnvelope[] = [];
    const cbc = client('reuse-f', sent, { enc: 'AES-CBC' });
    for (let n = 0; n < 4; n++) await cbc.send(`cbc ${n}`);
    assert.equal(byKey(sent).length, 4);
    assert.ok(sent.every((e) => e.enc === 'AES-CBC'));

    sent.length = 0;
    const off = client('reuse-g', sent, { keyReuse: false });
    for (let n = 0; n < 4; n++) await off.send(`off ${n}`);
    assert.equal(byKey(sent).length, 4);
  });
});

describe('client key reuse: options and a long run', () => {
  test('limits outside the documented range are refused', () => {
    const base = { server: 'http://127.0.0.1:1', key: clientKey('x') };
    assert.throws(() => new SecureMessageClient({ ...base, keyReuse: { maxMessages: 0 } }), InvalidArgumentError);
    assert.throws(() => new SecureMessageClient({ ...base, keyReuse: { maxMessages: MAX_MESSAGES_PER_KEY + 1 } }), InvalidArgumentError);
    assert.throws(() => new SecureMessageClient({ ...base, keyReuse: { maxMessages: 2.5 } }), InvalidArgumentError);
    assert.throws(() => new SecureMessageClient({ ...base, keyReuse: { maxAgeMs: 0 } }), InvalidArgumentError);
    assert.ok(new SecureMessageClient({ ...base, keyReuse: { maxMessages: MAX_MESSAGES_PER_KEY } }));
    assert.deepEqual(DEFAULT_KEY_REUSE, { maxMessages: 65_536, maxAgeMs: 3_600_000 });
  });

  test('20,000 messages under one key never repeat an IV', async () => {
    const { ReusableContentKey } = await import('../../src/client/content-key.js');
    const { subtle } = globalThis.crypto;
    const pair = await subtle.generateKey({ name: 'RSA-OAEP', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, false, [
      'encrypt',
      'decrypt',
    ]);
    const count = 20_000;
    const key = await ReusableContentKey.wrap(pair.publicKey, 'SHA-256', { maxMessages: count, maxAgeMs: 3_600_000 }, 0);
    const ivs = new Set<string>();
    const data = new TextEncoder().encode('x');
    for (let n = 0; n < count; n++) {
      assert.ok(key.reserve(1));
      ivs.add((await key.seal(data, n)).iv);
    }
    assert.equal(ivs.size, count);
    assert.equal(key.reserve(1), false, 'used up after maxMessages');
  });
});
