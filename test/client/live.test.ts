/**
 * The client library against the real server process on the embedded store: the normal path and
 * each awkward corner of the protocol (expired session, lost key, lost answer, restart, outage).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { findDevice } from '../../src/directory/device-list.js';
import { SecureMessageClient, SecureMessageError, type ClientOptions, type FetchLike, type Session } from '../../src/client/index.js';
import { clientKey, startEmbedded, TEST_UUID, type EmbeddedFixture } from '../helpers/embedded.js';
import { postForm } from '../helpers/http.js';
import { startServerProcess } from '../helpers/server-process.js';

/** Short back-offs: the corners are about behaviour, not patience. */
const FAST = { attempts: 4, baseDelayMs: 20, maxDelayMs: 200, maxRetryAfterMs: 10_000 };

describe('client library against the live server', () => {
  let fx: EmbeddedFixture;
  const client = (deviceId: string, extra: Partial<ClientOptions> = {}) =>
    new SecureMessageClient({ server: fx.server.url, key: clientKey(deviceId), retry: FAST, ...extra });

  before(async () => {
    fx = await startEmbedded([
      ['phone-01', 'Phone'],
      ['sensor-a', 'Sensor A'],
      ['sensor-b', 'Sensor B'],
      ['sensor-c', 'Sensor C'],
      ['sensor-d', 'Sensor D'],
      ['sensor-e', 'Sensor E'],
      ['sensor-f', 'Sensor F'],
    ], { WORKERS: '1' });
  });
  after(async () => fx.close());

  test('auth, GCM and CBC sends with either OAEP hash, all stored as sent; logout sets the device off', async () => {
    const c = client('phone-01');
    const session = await c.auth();
    assert.equal(session.name, 'Phone');
    assert.equal(findDevice(await fx.devicesOf(TEST_UUID), 'phone-01')?.status, 'on');
    for (const [enc, oaepHash] of [['AES-GCM', 'SHA-256'], ['AES-CBC', 'SHA-256'], ['AES-GCM', 'SHA-1'], ['AES-CBC', 'SHA-1']] as const) {
      const payload = JSON.stringify({ enc, oaepHash, text: 'grüße ✓' });
      const result = await c.send(payload, { enc, oaepHash });
      assert.equal(result.duplicate, false);
      const stored = await fx.messages.get(result.id);
      assert.equal(stored?.payload, payload);
      assert.equal(stored?.minute, result.minute);
      assert.equal(stored?.device_name, 'Phone');
    }
    assert.equal(await c.logout(), true);
    assert.equal(c.session, null);
    assert.equal(findDevice(await fx.devicesOf(TEST_UUID), 'phone-01')?.status, 'off');
    assert.equal(await c.logout(), false, 'a second logout finds no session and says so');
  });

  test('expired session: not found on send → a new auth and the message once more, under the new key', async () => {
    const saved: Array<Session | null> = [];
    const c = client('sensor-a', { onSession: (s) => void saved.push(s) });
    const first = await c.auth();
    assert.ok(await fx.sessions.delete(clientKey('sensor-a')), 'the session is gone, as after SESSION_TTL_SECONDS');
    const result = await c.send('after expiry', { minute: 1234 });
    assert.equal(result.duplicate, false);
    assert.equal((await fx.messages.get(result.id))?.payload, 'after expiry');
    assert.notEqual(c.session?.publicKey, first.publicKey);
    assert.equal(saved.at(-1)?.publicKey, c.session?.publicKey, 'onSession saw the new key');
    assert.ok((await fx.sessions.get(clientKey('sensor-a'))) !== null);
  });

  test('lost key: a client holding no key meets "already auth", logs out and authenticates again', async () => {
    // Another run of the device authenticated and its key was lost with it.
    const orphan = await postForm(fx.server.url, { key: clientKey('sensor-b'), status: 'on' });
    assert.equal(orphan.body.code, 0);
    const c = client('sensor-b');
    const result = await c.send('with a fresh key');
    assert.equal((await fx.messages.get(result.id))?.payload, 'with a fresh key');
    assert.notEqual(c.session?.publicKey, orphan.body.message);
    const stored = await fx.sessions.get(clientKey('sensor-b'));
    assert.ok(stored !== null);
  });

  test('lost answer on send: the same envelope is sent again and "duplicate" counts as delivered; one message stored', async () => {
    const bodies: string[] = [];
    let dropped = false;
    // The request reaches the server and is stored; the answer never reaches the client.
    const losing: FetchLike = async (input, init) => {
      const response = await fetch(input, init);
      bodies.push(String(init.body));
      if (!dropped && String(init.body).includes('message=')) {
        dropped = true;
        await response.arrayBuffer();
        throw new TypeError('fetch failed: connection reset');
      }
      return response;
    };
    const c = client('sensor-c', { fetch: losing });
    await c.auth();
    const before = (await fx.messages.list(10_000)).length;
    const result = await c.send('sent once, answered late', { minute: 42 });
    assert.equal(result.duplicate, true);
    assert.equal((await fx.messages.list(10_000)).length, before + 1);
    assert.equal((await fx.messages.get(result.id))?.payload, 'sent once, answered late');
    const submits = bodies.filter((b) => b.includes('message='));
    assert.equal(submits.length, 2);
    assert.equal(submits[0], submits[1], 'the very same bytes');
  });

  test('lost answer on auth: the retry meets "already auth" with no key, and recovers', async () => {
    let dropped = false;
    const losing: FetchLike = async (input, init) => {
      const response = await fetch(input, init);
      if (!dropped && String(init.body).includes('status=on')) {
        dropped = true;
        throw new TypeError('fetch failed');
      }
      return response;
    };
    const c = client('sensor-d', { fetch: losing });
    const session = await c.auth();
    const stored = await fx.sessions.get(clientKey('sensor-d'));
    assert.ok(stored !== null);
    assert.equal((await fx.messages.get((await c.send('ok')).id))?.payload, 'ok');
    assert.equal(c.session, session);
  });

  test('server restart: a send while the server is down waits until it is back, and the held key still works', async () => {
    // Retries for about a minute: a restart on a loaded machine may take most of the 30 s start timeout.
    const c = client('sensor-e', { retry: { attempts: 120, baseDelayMs: 50, maxDelayMs: 1000, maxRetryAfterMs: 10_000 } });
    await c.auth();
    const key = c.session?.publicKey;
    const port = new URL(fx.server.url).port;
    await fx.server.stop();
    const pending = c.send('sent while the server was down');
    await delay(300);
    // The same port, so the client's URL still points at it; the sessions are in DATA_DIR.
    fx.server = await startServerProcess({ ...fx.env, PORT: port });
    const result = await pending;
    assert.equal(result.duplicate, false);
    assert.equal((await fx.messages.get(result.id))?.payload, 'sent while the server was down');
    assert.equal(c.session?.publicKey, key, 'no new auth was needed: the session survived the restart');
  });

  test('typed errors: unknown device, a key the server does not hold', async () => {
    await assert.rejects(client('no-such-device').auth(), (e: SecureMessageError) => e.code === 'NOT_FOUND');
    await assert.rejects(
      new SecureMessageClient({ server: fx.server.url, key: clientKey('no-such-device'), retry: FAST }).send('x'),
      (e: SecureMessageError) => e.code === 'NOT_FOUND',
    );
    const c = client('phone-01');
    await c.auth();
    const wrong = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    // A key the server does not hold is a session another party replaced (SPEC §10): the client
    // ends the server's session, authenticates, and sends once more under its new key.
    const stale = client('phone-01', { session: { publicKey: wrong, name: 'Phone' } });
    const result = await stale.send('x');
    assert.equal(result.duplicate, false);
    assert.notEqual(stale.session?.publicKey, wrong);
  });
});
