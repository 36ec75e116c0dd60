/**
 * SPEC rules that had no test, or only a weak one, before the rule-by-rule audit
 * (docs/SPEC-COVERAGE.md names each rule and its row). Real server processes on the embedded
 * store, over real HTTP.
 *
 * The answers are compared with the SPEC's own literal bytes, not with src/protocol/answers.ts:
 * the other suites compare with answers.ts, so a changed string there would pass them and break
 * every client in the field. This file is the one place that would fail.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import pino from 'pino';
import { openMysqlDirectory } from '../../src/backends/mysql/index.js';
import { openEmbeddedDatabase } from '../../src/backends/sqlite/database.js';
import { SqliteUsermetaTable } from '../../src/backends/sqlite/usermeta.js';
import { readConfig } from '../../src/config/config.js';
import { findDevice } from '../../src/directory/device-list.js';
import { Directory } from '../../src/directory/directory.js';
import { clientKey, OTHER_UUID, startEmbedded, TEST_UUID, type EmbeddedFixture } from '../helpers/embedded.js';
import { encryptEnvelope } from '../helpers/encrypt.js';
import { postForm, postMultipart, request, type Reply } from '../helpers/http.js';
import { skipWithoutMariadb, startMariadbServer, type MariadbServer } from '../helpers/mariadb-server.js';
import { skipWithoutRedis, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { freePort, makeDataDir, startServerProcess, waitForLog, type ServerProcess } from '../helpers/server-process.js';
import { sqliteStoreTarget, type StoreTarget } from './targets.js';

/** SPEC §1's table, literally (key order as the server writes them). */
const SPEC = {
  alreadyAuth: '{"message":"already auth","code":1}',
  notFound: '{"message":"not found","code":2}',
  deleted: '{"message":"deleted","code":0}',
  invalidMessage: '{"message":"invalid message","code":3}',
  expired: '{"message":"expired","code":3}',
  tooManyRequests: '{"message":"too many requests","code":4}',
  unavailable: '{"message":"unavailable","code":5}',
} as const;

/** SPEC §2: every character a device id may hold, 64 of them. */
const WIDEST_DEVICE_ID = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-'.slice(0, 60) + '._:-';
const API_TOKEN = `spec-${'t'.repeat(40)}`;

function assertBytes(reply: Reply, status: number, text: string): void {
  assert.equal(reply.status, status, reply.text);
  assert.match(reply.headers.get('content-type') ?? '', /^application\/json/);
  assert.equal(reply.text, text);
}

function assertBadRequest(reply: Reply, status: number, error?: string): void {
  assert.equal(reply.status, status, reply.text);
  assert.match(reply.headers.get('content-type') ?? '', /^application\/json/);
  assert.deepEqual(Object.keys(reply.body), ['message', 'code', 'error']);
  assert.equal(reply.body.message, 'bad request');
  assert.equal(reply.body.code, 3);
  assert.equal(typeof reply.body.error, 'string');
  if (error !== undefined) assert.equal(reply.body.error, error);
}

/** SPEC §6, computed here rather than by src/protocol/message-id.ts. */
function specId(userId: string, deviceId: string, minute: string, plaintext: string): string {
  return createHash('sha256').update(`${userId}\0${deviceId}\0${minute}\0`).update(Buffer.from(plaintext, 'utf8')).digest('hex');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('SPEC §1-§9, §12 rules on the embedded store (default settings)', () => {
  let fx: EmbeddedFixture;
  let store: StoreTarget;
  let url: string;
  let admin: string;
  const api = (path: string, init: RequestInit = {}) =>
    request(url, path, { ...init, headers: { authorization: `Bearer ${API_TOKEN}`, ...(init.headers ?? {}) } });

  before(async () => {
    fx = await startEmbedded(
      [
        ['phone-01', 'Phone'],
        ['locked', 'Locked'],
        [WIDEST_DEVICE_ID, 'Widest'],
        ['pager', 'Pager'],
      ],
      { API_TOKENS: `site:${API_TOKEN}`, ADMIN_PORT: String(await freePort()), KEY_POOL_SIZE: '2' },
    );
    url = fx.server.url;
    assert.ok(fx.server.adminUrl);
    admin = fx.server.adminUrl;
    store = sqliteStoreTarget(fx.dataDir);
  });
  after(async () => {
    await store?.close();
    await fx?.close();
  });

  test('§1: every answer of the table, as the SPEC writes it, byte for byte', async () => {
    const key = clientKey('phone-01');
    const created = await postForm(url, { key, status: 'on' });
    assert.equal(created.status, 200);
    assert.deepEqual(Object.keys(created.body), ['message', 'code', 'name']);
    assert.equal(created.body.code, 0);
    assert.equal(created.body.name, 'Phone');
    assert.match(String(created.body.message), /^-----BEGIN PUBLIC KEY-----\n[\s\S]+\n-----END PUBLIC KEY-----\n?$/);
    const pem = String(created.body.message);

    assertBytes(await postForm(url, { key, status: 'on' }), 200, SPEC.alreadyAuth);
    assertBytes(await postForm(url, { key: clientKey('phone-01', OTHER_UUID), status: 'on' }), 200, SPEC.notFound);

    const delivered = await postForm(url, { key, message: encryptEnvelope(pem, 'literal', { minute: 1 }) });
    const id = String(delivered.body.id);
    assertBytes(delivered, 200, `{"message":"delivered","code":0,"id":"${id}"}`);
    assertBytes(await postForm(url, { key, message: encryptEnvelope(pem, 'literal', { minute: 1 }) }), 200, `{"message":"duplicate","code":1,"id":"${id}"}`);
    assertBytes(await postForm(url, { key, message: 'not json' }), 400, SPEC.invalidMessage);
    assertBytes(await postForm(url, { key: clientKey('pager'), message: encryptEnvelope(pem, 'x') }), 200, SPEC.notFound);

    assertBadRequest(await postForm(url, { status: 'on' }), 400);
    assertBadRequest(await postForm(url, { key, message: 'x'.repeat(262_144) }), 413, 'body too large');
    assertBadRequest(await request(url, '/api', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'key=k' }), 415);

    assertBytes(await postForm(url, { key, status: 'off' }), 200, SPEC.deleted);
    assertBytes(await postForm(url, { key, status: 'off' }), 200, SPEC.notFound);
  });

  test('§1: an empty status is an unknown status (400) and changes nothing (docs/PROTOCOL.md decision)', async () => {
    const key = clientKey('pager');
    const statusBefore = findDevice(await fx.devicesOf(TEST_UUID), 'pager')?.status;
    const cases: Array<Record<string, string>> = [{ key, status: '' }, { key, status: '', message: '' }];
    for (const fields of cases) {
      for (const send of [(f: Record<string, string>) => postForm(url, f), (f: Record<string, string>) => postMultipart(url, f)]) {
        const reply = await send(fields);
        assertBadRequest(reply, 400);
        assert.equal(await store.rawSession(key), null);
      }
    }
    assert.equal(findDevice(await fx.devicesOf(TEST_UUID), 'pager')?.status, statusBefore);
  });

  test('§2: a device id of 64 characters using the whole alphabet authenticates, submits and logs out', async () => {
    assert.equal(WIDEST_DEVICE_ID.length, 64);
    const key = clientKey(WIDEST_DEVICE_ID);
    const created = await postForm(url, { key, status: 'on' });
    assert.equal(created.body.code, 0, created.text);
    assert.equal(created.body.name, 'Widest');
    const sent = await postForm(url, { key, message: encryptEnvelope(String(created.body.message), 'wide', { minute: 3 }) });
    assert.equal(sent.body.message, 'delivered', sent.text);
    assert.equal(sent.body.id, specId(TEST_UUID, WIDEST_DEVICE_ID, '3', 'wide'));
    assertBytes(await postForm(url, { key, status: 'off' }), 200, SPEC.deleted);
    // One character more is off the grammar: not found, not a bad request.
    assertBytes(await postForm(url, { key: `${key}x`, status: 'on' }), 200, SPEC.notFound);
  });

  test('§6: the id is the SHA-256 of user_id 0 device_id 0 minute 0 plaintext, computed here', async () => {
    const pem = String((await postForm(url, { key: clientKey('phone-01'), status: 'on' })).body.message);
    for (const [minute, text] of [[29412345, '{"temp":21}'], ['2026-12-02 04:00', 'ünïcödé ✓ 📱'], [0, '']] as const) {
      const reply = await postForm(url, { key: clientKey('phone-01'), message: encryptEnvelope(pem, text, { minute, enc: 'AES-GCM' }) });
      assert.equal(reply.body.message, 'delivered', reply.text);
      assert.equal(reply.body.id, specId(TEST_UUID, 'phone-01', String(minute), text));
    }
  });

  test('§5/§6: a GCM minute written 7e2 is the integer 700: its AAD is "700", its id that of minute 700, stored as received', async () => {
    const pem = await fx.publicKeyOf(clientKey('phone-01'));
    const sealed = encryptEnvelope(pem, 'exponent', { minute: 700, enc: 'AES-GCM' });
    const written = sealed.replace('"minute":700', '"minute":7e2');
    assert.notEqual(written, sealed);
    const reply = await postForm(url, { key: clientKey('phone-01'), message: written });
    assert.equal(reply.body.message, 'delivered', reply.text);
    const id = specId(TEST_UUID, 'phone-01', '700', 'exponent');
    assert.equal(reply.body.id, id);
    assert.equal((JSON.parse((await store.rawMessage(id)) ?? '{}') as { minute: unknown }).minute, 700);
    const again = await postForm(url, { key: clientKey('phone-01'), message: encryptEnvelope(pem, 'exponent', { minute: 700, enc: 'AES-GCM' }) });
    assertBytes(again, 200, `{"message":"duplicate","code":1,"id":"${id}"}`);
  });

  test('§7: by default (MESSAGE_TTL_SECONDS=0) a stored message has no expiry; a session expires after the 604800 s default', async () => {
    const pem = await fx.publicKeyOf(clientKey('phone-01'));
    const reply = await postForm(url, { key: clientKey('phone-01'), message: encryptEnvelope(pem, 'kept', { minute: 11 }) });
    assert.equal(reply.body.message, 'delivered', reply.text);
    assert.equal(await store.messageExpiry(String(reply.body.id)), null);
    const left = await store.sessionExpiry(clientKey('phone-01'));
    assert.equal(typeof left, 'number');
    assert.ok(Math.abs((left as number) - 604_800) < 60, `session expiry ${left}`);
  });

  test('§1: a submit and a logout that cannot be written are 503 with Retry-After, and change nothing', async () => {
    const key = clientKey('locked');
    const pem = String((await postForm(url, { key, status: 'on' })).body.message);
    const envelope = encryptEnvelope(pem, 'while locked', { minute: 21 });
    const id = specId(TEST_UUID, 'locked', '21', 'while locked');
    const sessionBefore = await store.rawSession(key);
    // Another connection holds the write lock longer than the server's busy timeout (as in test/api/protocol.test.ts).
    let submit: Reply;
    let logout: Reply;
    fx.db.exec('BEGIN IMMEDIATE');
    try {
      submit = await postForm(url, { key, message: envelope });
      logout = await postForm(url, { key, status: 'off' });
    } finally {
      fx.db.exec('ROLLBACK');
    }
    for (const reply of [submit, logout]) {
      assertBytes(reply, 503, SPEC.unavailable);
      assert.ok(Number(reply.headers.get('retry-after')) >= 1, 'Retry-After');
    }
    assert.equal(await store.rawMessage(id), null, 'nothing stored');
    assert.equal(await store.rawSession(key), sessionBefore, 'the session is as it was');
    assert.equal(findDevice(await fx.devicesOf(TEST_UUID), 'locked')?.status, 'on');
    // The client's retries, once the store is back.
    assertBytes(await postForm(url, { key, message: envelope }), 200, `{"message":"delivered","code":0,"id":"${id}"}`);
    assertBytes(await postForm(url, { key, status: 'off' }), 200, SPEC.deleted);
    assert.equal(findDevice(await fx.devicesOf(TEST_UUID), 'locked')?.status, 'off');
  });

  test('§9: a page holds 100 entries by default; an empty `after` is the start; every cursor is of the grammar', async () => {
    const pem = await fx.publicKeyOf(clientKey('phone-01'));
    for (let i = 0; i < 105; i++) {
      const reply = await postForm(url, { key: clientKey('phone-01'), message: encryptEnvelope(pem, `page ${i}`, { minute: 5000 + i }) });
      assert.equal(reply.body.message, 'delivered', reply.text);
    }
    const first = await api('/v1/messages');
    assert.equal(first.status, 200, first.text);
    assert.equal(first.body.message, 'ok');
    assert.equal(first.body.code, 0);
    const items = first.body.messages as Array<{ cursor: string; record: { id: string } }>;
    assert.equal(items.length, 100, 'limit defaults to 100');
    assert.equal(first.body.next, items.at(-1)!.cursor);
    const fromEmpty = await api('/v1/messages?after=');
    assert.deepEqual(fromEmpty.body, first.body, 'after empty = from the start of the log');
    const rest = await api(`/v1/messages?after=${encodeURIComponent(String(first.body.next))}&limit=1000`);
    const all = [...items, ...(rest.body.messages as typeof items)];
    assert.ok(all.length >= 105);
    for (const item of all) assert.match(item.cursor, /^[A-Za-z0-9._:-]{1,64}$/, `cursor ${item.cursor}`);
    assert.equal(new Set(all.map((item) => item.cursor)).size, all.length);
  });

  test('§9: GET /v1/messages/<id> gives the §7 record as it is stored', async () => {
    const pem = await fx.publicKeyOf(clientKey('phone-01'));
    const reply = await postForm(url, { key: clientKey('phone-01'), message: encryptEnvelope(pem, '{"read":"back"}', { minute: 'as text' }) });
    const id = String(reply.body.id);
    const raw = await store.rawMessage(id);
    assert.ok(raw);
    const got = await api(`/v1/messages/${id}`);
    assert.equal(got.status, 200, got.text);
    assert.deepEqual(Object.keys(got.body), ['message', 'code', 'record']);
    assert.equal(JSON.stringify(got.body.record), raw);
    assert.deepEqual(Object.keys(got.body.record as object), ['id', 'user_id', 'device_id', 'device_name', 'minute', 'received_at', 'payload']);
  });

  test('§12: /metrics exposes every metric name SPEC §12 lists, literally, and Node process metrics', async () => {
    const response = await fetch(`${admin}/metrics`);
    assert.equal(response.status, 200);
    const text = await response.text();
    const names: Array<[string, string]> = [
      ['secure_message_requests_total', 'counter'],
      ['secure_message_request_duration_seconds', 'histogram'],
      ['secure_message_messages_stored_total', 'counter'],
      ['secure_message_duplicates_total', 'counter'],
      ['secure_message_invalid_envelopes_total', 'counter'],
      ['secure_message_sessions_created_total', 'counter'],
      ['secure_message_key_pool_available', 'gauge'],
      ['secure_message_backend_up', 'gauge'],
      ['secure_message_rate_limited_total', 'counter'],
      ['secure_message_webhook_deliveries_total', 'counter'],
      ['secure_message_consumer_lag', 'gauge'],
    ];
    for (const [name, type] of names) assert.match(text, new RegExp(`^# TYPE ${name} ${type}$`, 'm'), name);
    // The labels SPEC §12 names, on the traffic above.
    assert.match(text, /^secure_message_requests_total\{[^}]*op="submit"[^}]*code="0"[^}]*\} \d+/m);
    assert.match(text, /^secure_message_request_duration_seconds_bucket\{[^}]*op="auth"/m);
    assert.match(text, /^secure_message_backend_up\{backend="sqlite"\} 1$/m);
    assert.match(text, /^process_cpu_user_seconds_total /m);
  });
});

describe('SPEC §12: the dashboard never shows payloads, private keys or whole client keys', () => {
  test('GET / and the data it loads (/dashboard.json), after traffic and errors of every kind', async () => {
    const payload = `dashboard-secret-${randomBytes(6).toString('hex')}`;
    const fx = await startEmbedded([['phone-01', 'Phone']], { ADMIN_PORT: String(await freePort()) });
    try {
      const key = clientKey('phone-01');
      const pem = String((await postForm(fx.server.url, { key, status: 'on' })).body.message);
      assert.equal((await postForm(fx.server.url, { key, message: encryptEnvelope(pem, payload) })).body.message, 'delivered');
      assert.equal((await postForm(fx.server.url, { key, message: `{"payload":"${payload}"}` })).status, 400);
      assert.equal((await postForm(fx.server.url, { key: clientKey('ghost'), status: 'on' })).body.code, 2);
      for (const path of ['/', '/dashboard.json']) {
        const response = await fetch(`${fx.server.adminUrl!}${path}`);
        assert.equal(response.status, 200, path);
        const text = await response.text();
        for (const secret of [payload, TEST_UUID, key, 'PRIVATE KEY', 'PUBLIC KEY', pem.split('\n')[1]!]) {
          assert.ok(!text.includes(secret), `${path} shows ${secret.slice(0, 20)}`);
        }
      }
    } finally {
      await fx.close();
    }
  });
});

describe('SPEC §12: the operator listener defaults', () => {
  test('ADMIN_HOST 127.0.0.1, ADMIN_PORT 8001; ADMIN_PORT=0 starts no operator listener', async () => {
    const config = readConfig({});
    assert.equal(config.operator.adminHost, '127.0.0.1');
    assert.equal(config.operator.adminPort, 8001);
    const data = makeDataDir();
    let server: ServerProcess | undefined;
    try {
      server = await startServerProcess({ DATA_DIR: data.dir, ADMIN_PORT: '0' });
      assert.equal(server.adminUrl, undefined);
      const listening = server.logs.find((line) => line.msg === 'listening');
      assert.ok(listening);
      assert.equal(listening.admin, undefined, 'the listening line names no operator listener');
      // The operator's paths are not on the main port either (only /healthz and /readyz are).
      assert.equal((await request(server.url, '/metrics')).status, 404);
    } finally {
      await server?.stop();
      data.remove();
    }
  });
});

describe('SPEC §3, §4, §8: DB_TABLE_PREFIX, WP_UUID_META_KEY, WP_DEVICES_META_KEY, SESSION_TTL_SECONDS=0, MINUTE_WINDOW', () => {
  const PREFIX = 'site7_';
  const META = { uuidMetaKey: 'sms_uuid', devicesMetaKey: 'sms_devices' };
  let data: { dir: string; remove: () => void };
  let server: ServerProcess;
  let store: StoreTarget;
  let directory: Directory;
  let close: () => void;

  before(async () => {
    data = makeDataDir();
    const db = openEmbeddedDatabase(data.dir, PREFIX);
    const usermeta = new SqliteUsermetaTable(db, PREFIX);
    directory = new Directory(usermeta, META, pino({ level: 'silent' }));
    await directory.addUser(TEST_UUID);
    await directory.addDevice(TEST_UUID, 'phone-01', 'Prefixed phone');
    // Decoys where the defaults would look: the same user and device under the default meta keys
    // of the prefixed table, and under the default `wp_` table.
    const defaults = new Directory(usermeta, { uuidMetaKey: 'uuid', devicesMetaKey: 'devices' }, pino({ level: 'silent' }));
    await defaults.addUser(OTHER_UUID);
    await defaults.addDevice(OTHER_UUID, 'phone-01', 'Decoy');
    const wpDb = openEmbeddedDatabase(data.dir, 'wp_');
    const wp = new Directory(new SqliteUsermetaTable(wpDb, 'wp_'), { uuidMetaKey: 'uuid', devicesMetaKey: 'devices' }, pino({ level: 'silent' }));
    await wp.addUser(OTHER_UUID);
    await wp.addDevice(OTHER_UUID, 'tablet', 'Decoy in wp_');
    wpDb.close();
    close = () => db.close();
    server = await startServerProcess({
      DATA_DIR: data.dir,
      DB_TABLE_PREFIX: PREFIX,
      WP_UUID_META_KEY: META.uuidMetaKey,
      WP_DEVICES_META_KEY: META.devicesMetaKey,
      SESSION_TTL_SECONDS: '0',
      MINUTE_WINDOW: '5',
      KEY_POOL_SIZE: '0',
    });
    store = sqliteStoreTarget(data.dir);
  });
  after(async () => {
    await server?.stop();
    await store?.close();
    close?.();
    data?.remove();
  });

  test('the user and devices are read from <prefix>usermeta under the configured meta keys, and the status written there', async () => {
    const reply = await postForm(server.url, { key: clientKey('phone-01'), status: 'on' });
    assert.equal(reply.body.code, 0, reply.text);
    assert.equal(reply.body.name, 'Prefixed phone');
    const devices = await directory.listDevices(TEST_UUID);
    assert.equal(devices.find((device) => device.id === 'phone-01')?.status, 'on');
    assertBytes(await postForm(server.url, { key: clientKey('phone-01', OTHER_UUID), status: 'on' }), 200, SPEC.notFound);
    assertBytes(await postForm(server.url, { key: clientKey('tablet', OTHER_UUID), status: 'on' }), 200, SPEC.notFound);
  });

  test('SESSION_TTL_SECONDS=0: the session never expires, a submit leaves it so', async () => {
    const key = clientKey('phone-01');
    assert.equal(await store.sessionExpiry(key), null);
    const pem = createPublicKey((await store.sessions.get(key))!.private_key).export({ type: 'spki', format: 'pem' }).toString();
    const sent = await postForm(server.url, { key, message: encryptEnvelope(pem, 'forever') });
    assert.equal(sent.body.message, 'delivered', sent.text);
    assert.equal(await store.sessionExpiry(key), null);
  });

  test('MINUTE_WINDOW: the "expired" answer is the SPEC\'s bytes', async () => {
    const key = clientKey('phone-01');
    const pem = createPublicKey((await store.sessions.get(key))!.private_key).export({ type: 'spki', format: 'pem' }).toString();
    const stale = Math.floor(Date.now() / 60_000) - 60;
    assertBytes(await postForm(server.url, { key, message: encryptEnvelope(pem, 'late', { minute: stale, enc: 'AES-GCM' }) }), 400, SPEC.expired);
  });
});

describe('SPEC §1, §4, §8: SESSION_TTL_SECONDS=3, SESSION_KEY_BITS=4096, MAX_BODY_BYTES=2048, a failure budget', () => {
  let fx: EmbeddedFixture;
  before(async () => {
    fx = await startEmbedded(
      [
        ['phone-01', 'Phone'],
        ['watch', 'Watch'],
        ['tracker', 'Tracker'],
      ],
      { SESSION_TTL_SECONDS: '3', SESSION_KEY_BITS: '4096', KEY_POOL_SIZE: '0', MAX_BODY_BYTES: '2048', FAILURE_LIMIT_PER_KEY: '2' },
    );
  });
  after(async () => fx?.close());

  test('4096-bit session keys work; a body over MAX_BODY_BYTES=2048 is 413, under it is served', async () => {
    const reply = await postForm(fx.server.url, { key: clientKey('phone-01'), status: 'on' });
    assert.equal(reply.body.code, 0, reply.text);
    const pem = String(reply.body.message);
    assert.equal(createPublicKey(pem).asymmetricKeyDetails?.modulusLength, 4096);
    const envelope = encryptEnvelope(pem, 'small enough', { enc: 'AES-GCM' });
    assert.ok(new URLSearchParams({ key: clientKey('phone-01'), message: envelope }).toString().length < 2048);
    const sent = await postForm(fx.server.url, { key: clientKey('phone-01'), message: envelope });
    assert.equal(sent.body.message, 'delivered', sent.text);
    for (const send of [postForm, postMultipart]) {
      assertBadRequest(await send(fx.server.url, { key: clientKey('phone-01'), message: 'x'.repeat(2100) }), 413, 'body too large');
    }
  });

  test('a session not used for SESSION_TTL_SECONDS is gone: the submit and a logout are "not found" (the device then off), a new auth creates a new one', async () => {
    const key = clientKey('watch');
    const created = await postForm(fx.server.url, { key, status: 'on' });
    assert.equal(created.body.code, 0, created.text);
    const pem = String(created.body.message);
    // Alive (and renewed) right after the auth...
    const sent = await postForm(fx.server.url, { key, message: encryptEnvelope(pem, 'in time', { enc: 'AES-GCM' }) });
    assert.equal(sent.body.message, 'delivered', sent.text);
    // A second device, to log out once its session has expired.
    const tracker = clientKey('tracker');
    assert.equal((await postForm(fx.server.url, { key: tracker, status: 'on' })).body.code, 0);
    assert.equal(findDevice(await fx.devicesOf(TEST_UUID), 'tracker')?.status, 'on');
    // ...and gone once more than the TTL has passed without a submit.
    await sleep(5000);
    assertBytes(await postForm(fx.server.url, { key, message: encryptEnvelope(pem, 'too late', { enc: 'AES-GCM' }) }), 200, SPEC.notFound);
    // §3: a logout after the expiry finds no session ("not found") and still leaves the device off.
    assertBytes(await postForm(fx.server.url, { key: tracker, status: 'off' }), 200, SPEC.notFound);
    assert.equal(findDevice(await fx.devicesOf(TEST_UUID), 'tracker')?.status, 'off');
    const again = await postForm(fx.server.url, { key, status: 'on' });
    assert.equal(again.body.code, 0, again.text);
    assert.notEqual(String(again.body.message), pem, 'a fresh key pair');
  });

  test('§10: a logout answered "not found" is a failure too: it spends the key\'s budget', async () => {
    const key = clientKey('never-logged-in');
    for (let i = 0; i < 2; i++) assertBytes(await postForm(fx.server.url, { key, status: 'off' }), 200, SPEC.notFound);
    const limited = await postForm(fx.server.url, { key, status: 'off' });
    assertBytes(limited, 429, SPEC.tooManyRequests);
    // Another key is not blocked by it.
    assert.equal((await postForm(fx.server.url, { key: clientKey('phone-01'), status: 'on' })).status, 200);
  });

  test('past the failure budget: 429, the SPEC\'s bytes, with Retry-After', async () => {
    const key = clientKey('no-such-device');
    for (let i = 0; i < 2; i++) assertBytes(await postForm(fx.server.url, { key, status: 'on' }), 200, SPEC.notFound);
    const limited = await postForm(fx.server.url, { key, status: 'on' });
    assertBytes(limited, 429, SPEC.tooManyRequests);
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
  });
});

describe('SPEC §3, §4 on a real MariaDB: DB_TABLE_PREFIX and the meta keys; logout deletes the session, then sets the device off', {
  skip: skipWithoutMariadb('the SPEC rules on MariaDB'),
}, () => {
  const PREFIX = 'site7_';
  const META = { uuidMetaKey: 'sms_uuid', devicesMetaKey: 'sms_devices' };
  let mariadb: MariadbServer;
  let data: { dir: string; remove: () => void };
  let server: ServerProcess;
  let store: StoreTarget;
  let directory: Directory;
  let closeDirectory: () => Promise<void>;

  before(async () => {
    mariadb = await startMariadbServer({ tablePrefix: PREFIX });
    const opened = openMysqlDirectory(
      { host: mariadb.host, port: mariadb.port, database: mariadb.database, user: mariadb.user, password: mariadb.password },
      PREFIX,
      pino({ level: 'silent' }),
    );
    closeDirectory = () => opened.handle.close();
    directory = new Directory(opened.usermeta, META, pino({ level: 'silent' }));
    await directory.addUser(TEST_UUID, '11');
    await directory.addDevice(TEST_UUID, 'phone-01', 'Prefixed phone');
    await directory.addDevice(TEST_UUID, 'tablet', 'Tablet');
    const defaults = new Directory(opened.usermeta, { uuidMetaKey: 'uuid', devicesMetaKey: 'devices' }, pino({ level: 'silent' }));
    await defaults.addUser(OTHER_UUID, '12');
    await defaults.addDevice(OTHER_UUID, 'phone-01', 'Decoy');
    data = makeDataDir();
    server = await startServerProcess({
      DATA_DIR: data.dir,
      ...mariadb.env,
      WP_UUID_META_KEY: META.uuidMetaKey,
      WP_DEVICES_META_KEY: META.devicesMetaKey,
      KEY_POOL_SIZE: '0',
    });
    store = sqliteStoreTarget(data.dir);
  });
  after(async () => {
    await server?.stop();
    await store?.close();
    await closeDirectory?.();
    await mariadb?.close();
    data?.remove();
  });

  test('auth finds the user in <prefix>usermeta under the configured meta keys and writes the status there', async () => {
    assert.equal(mariadb.env.DB_TABLE_PREFIX, PREFIX);
    const reply = await postForm(server.url, { key: clientKey('phone-01'), status: 'on' });
    assert.equal(reply.body.code, 0, reply.text);
    assert.equal(reply.body.name, 'Prefixed phone');
    assert.equal((await directory.listDevices(TEST_UUID)).find((device) => device.id === 'phone-01')?.status, 'on');
    const rows = await mariadb.sql<{ meta_key: string }>(`SELECT meta_key FROM \`${PREFIX}usermeta\` WHERE user_id = 11 ORDER BY umeta_id`);
    assert.deepEqual(rows.map((row) => row.meta_key), [META.uuidMetaKey, META.devicesMetaKey]);
    assertBytes(await postForm(server.url, { key: clientKey('phone-01', OTHER_UUID), status: 'on' }), 200, SPEC.notFound);
  });

  test('a logout whose status write is refused still deletes the session: "deleted", the failure logged', async () => {
    const key = clientKey('tablet');
    assert.equal((await postForm(server.url, { key, status: 'on' })).body.code, 0);
    // The server's MySQL user may read the row but no longer change it (takes effect at its next statement).
    await mariadb.sql(`REVOKE UPDATE ON \`${mariadb.database}\`.\`${PREFIX}usermeta\` FROM ?@'127.0.0.1'`, [mariadb.user]);
    let reply: Reply;
    try {
      reply = await postForm(server.url, { key, status: 'off' });
    } finally {
      await mariadb.sql(`GRANT UPDATE ON \`${mariadb.database}\`.\`${PREFIX}usermeta\` TO ?@'127.0.0.1'`, [mariadb.user]);
    }
    assertBytes(reply, 200, SPEC.deleted);
    assert.equal(await store.rawSession(key), null, 'the session is gone first');
    assert.equal((await directory.listDevices(TEST_UUID)).find((device) => device.id === 'tablet')?.status, 'on', 'the status write failed');
    assert.ok(await waitForLog(server, (line) => line.msg === 'session deleted but device status not set off' && line.level === 50), 'logged at error level');
    // Nothing half-done blocks the device: it authenticates again.
    assert.equal((await postForm(server.url, { key, status: 'on' })).body.code, 0);
  });
});

describe('SPEC §1, §3, §4 on a real Redis: a logout that meets a Redis in trouble', { skip: skipWithoutRedis('the SPEC rules on Redis') }, () => {
  let redis: RedisServer;
  let fx: EmbeddedFixture;
  before(async () => {
    redis = await startRedisServer();
    fx = await startEmbedded([['phone-01', 'Phone']], { ...redis.env, KEY_POOL_SIZE: '0' });
  });
  after(async () => {
    await fx?.close();
    await redis?.close();
  });

  test('while Redis does not answer: 503 with Retry-After; the retry ends with the session gone and the device off', async () => {
    const key = clientKey('phone-01');
    assert.equal((await postForm(fx.server.url, { key, status: 'on' })).body.code, 0);
    redis.pause();
    let reply: Reply;
    try {
      reply = await postForm(fx.server.url, { key, status: 'off' });
    } finally {
      redis.resume();
    }
    assertBytes(reply, 503, SPEC.unavailable);
    assert.ok(Number(reply.headers.get('retry-after')) >= 1);
    // The client retries, as a 503 asks. Whatever the first attempt left behind (its DEL may
    // have reached Redis after the answer), the device must end logged out: no session, status off.
    let retry: Reply | undefined;
    for (let i = 0; i < 20; i++) {
      retry = await postForm(fx.server.url, { key, status: 'off' });
      if (retry.status !== 503) break;
      await sleep(500);
    }
    assert.ok(retry && (retry.text === SPEC.deleted || retry.text === SPEC.notFound), retry?.text);
    assert.equal((await postForm(fx.server.url, { key, message: '{}' })).text, SPEC.notFound, 'no session');
    assert.equal(findDevice(await fx.devicesOf(TEST_UUID), 'phone-01')?.status, 'off', `status after a retry answered ${retry?.text}`);
  });

  // Found by the SPEC audit (docs/SPEC-COVERAGE.md "Found"), fixed in closeSession: a logout that
  // finds no session still sets an `on` device `off`.
  test('whose DEL lands after its 503 answer: the retry leaves the device off, not "on" with no session', async () => {
    const key = clientKey('phone-01');
    assert.equal((await postForm(fx.server.url, { key, status: 'on' })).body.code, 0);
    // Redis holds write commands (reads go on) for longer than the server's command timeout:
    // the budget read passes, the DEL waits, the server answers 503, then Redis runs the DEL.
    const pauseMs = 4000;
    await redis.client(0).call('CLIENT', 'PAUSE', String(pauseMs), 'WRITE');
    const started = Date.now();
    assertBytes(await postForm(fx.server.url, { key, status: 'off' }), 503, SPEC.unavailable);
    await sleep(Math.max(0, pauseMs - (Date.now() - started)) + 500);
    assert.equal(await redis.client(2).exists(key), 0, 'the DEL ran once the pause ended');
    // The client retries, as a 503 asks; the device must end off (SPEC §3: on logout, set the status to off).
    const retry = await postForm(fx.server.url, { key, status: 'off' });
    assert.ok(retry.text === SPEC.deleted || retry.text === SPEC.notFound, retry.text);
    assert.equal(findDevice(await fx.devicesOf(TEST_UUID), 'phone-01')?.status, 'off');
  });
});

describe('SPEC §10 on a real Redis: past a failure budget the store\'s records are not asked (Redis MONITOR)', { skip: skipWithoutRedis('the SPEC rules on Redis') }, () => {
  let redis: RedisServer;
  let fx: EmbeddedFixture;
  before(async () => {
    redis = await startRedisServer();
    fx = await startEmbedded([['phone-01', 'Phone']], { ...redis.env, KEY_POOL_SIZE: '0', FAILURE_LIMIT_PER_KEY: '2' });
  });
  after(async () => {
    await fx?.close();
    await redis?.close();
  });

  test('an auth, a logout and a submit for a key past its budget are 429 without a command on its session or a message', async () => {
    const key = clientKey('phone-01');
    const pem = String((await postForm(fx.server.url, { key, status: 'on' })).body.message);
    // Two invalid envelopes spend the budget of this key (SPEC §10: `invalid message` is a failure).
    for (let i = 0; i < 2; i++) assertBytes(await postForm(fx.server.url, { key, message: 'not json' }), 400, SPEC.invalidMessage);
    const commands: string[][] = [];
    const monitor = await redis.client(0).monitor();
    monitor.on('monitor', (_time: string, args: string[]) => commands.push(args));
    try {
      await sleep(200);
      const requests: Array<Record<string, string>> = [{ key, status: 'on' }, { key, status: 'off' }, { key, message: encryptEnvelope(pem, 'past the budget') }];
      for (const fields of requests) {
        const reply = await postForm(fx.server.url, fields);
        assertBytes(reply, 429, SPEC.tooManyRequests);
        assert.ok(Number(reply.headers.get('retry-after')) >= 1);
      }
      await sleep(300);
    } finally {
      monitor.disconnect();
    }
    // The session is stored under the client key itself (SPEC §7, no prefix here); messages under
    // 64 hex characters. Neither may be touched; the budget's own keys may.
    const touched = commands.filter((args) => args.slice(1).some((arg) => arg === key || /^[0-9a-f]{64}$/.test(arg)));
    assert.deepEqual(touched, [], JSON.stringify(commands));
    assert.ok(commands.length > 0, 'MONITOR saw the budget checks, so it was listening');
    // The session is still there: nothing was done to it.
    assert.ok(await redis.client(2).exists(key));
  });
});
