/**
 * The production backends around the requests: start-up with Redis and MariaDB down (the server
 * starts, logs it, is not ready, and recovers by itself), the start-up log (which backends, never
 * a password), REDIS_URL, and the admin command line against MySQL and Redis.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Code, Message } from '../../src/protocol/answers.js';
import { TEST_UUID } from '../helpers/embedded.js';
import { encryptEnvelope } from '../helpers/encrypt.js';
import { postForm, request } from '../helpers/http.js';
import { skipWithoutMariadb, startMariadbServer, type MariadbServer } from '../helpers/mariadb-server.js';
import { skipIfAny, startBoth, waitUntil } from '../helpers/real-backends.js';
import { skipWithoutRedis, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { admin, adminResult, makeDataDir, startServerProcess, type ServerProcess } from '../helpers/server-process.js';

const SUITES = 'start-up and admin tests (test/backends/startup.test.ts)';
const skip = skipIfAny(skipWithoutRedis(SUITES), skipWithoutMariadb(SUITES));

const REDIS_PASSWORD = 'redis-secret-5d1e9';
const DB_PASSWORD = 'db-secret-8c2f4';
const UNAVAILABLE = { message: Message.unavailable, code: Code.unavailable };

describe('production backends: start-up, logs and the admin command', { skip }, () => {
  let redis: RedisServer;
  let mariadb: MariadbServer;
  let data: { dir: string; remove: () => void };
  let env: Record<string, string>;
  const servers: ServerProcess[] = [];
  const start = async (extra: Record<string, string> = {}): Promise<ServerProcess> => {
    const server = await startServerProcess({ ...env, ...extra });
    servers.push(server);
    return server;
  };

  before(async () => {
    [redis, mariadb] = await startBoth(startRedisServer({ password: REDIS_PASSWORD }), startMariadbServer({ password: DB_PASSWORD }));
    data = makeDataDir();
    env = { DATA_DIR: data.dir, ...redis.env, ...mariadb.env };
  });
  after(async () => {
    for (const server of servers) await server.stop();
    await Promise.all([redis?.close(), mariadb?.close()]);
    data?.remove();
  });

  test('admin: a WordPress user needs --wp-user-id; then users and devices are written to wp_usermeta', async () => {
    const refused = adminResult(env, 'user', 'add', TEST_UUID);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /^error: .*WordPress.*--wp-user-id/m);
    assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace');

    assert.match(admin(env, 'user', 'add', TEST_UUID, '--wp-user-id', '42'), /user 42 has uuid/);
    admin(env, 'device', 'add', TEST_UUID, 'phone-01', '--name', 'Téléphone 📱');
    admin(env, 'device', 'add', TEST_UUID, 'tablet');
    const rows = await mariadb.sql<{ user_id: string; meta_key: string; meta_value: string }>(
      'SELECT user_id, meta_key, meta_value FROM wp_usermeta ORDER BY umeta_id',
    );
    assert.deepEqual(
      rows.map((row) => [String(row.user_id), row.meta_key]),
      [
        ['42', 'uuid'],
        ['42', 'devices'],
      ],
    );
    assert.equal(rows[0]!.meta_value, TEST_UUID);
    assert.equal(
      rows[1]!.meta_value,
      'a:2:{s:8:"phone-01";a:2:{s:4:"name";s:16:"Téléphone 📱";s:6:"status";s:3:"off";}s:6:"tablet";a:2:{s:4:"name";s:6:"tablet";s:6:"status";s:3:"off";}}',
    );
    assert.equal(admin(env, 'device', 'list', TEST_UUID), 'phone-01\toff\tTéléphone 📱\ntablet\toff\ttablet\n');

    const duplicate = adminResult(env, 'device', 'add', TEST_UUID, 'tablet');
    assert.equal(duplicate.status, 1);
    assert.match(duplicate.stderr, /already exists/);
    assert.doesNotMatch(duplicate.stderr, /unavailable/, 'a refusal is not an outage');
  });

  test('the start-up log names each backend by host, port and database, and never a password', async () => {
    const server = await start();
    const listening = server.logs.find((line) => line.msg === 'listening');
    assert.equal(listening?.store, `redis 127.0.0.1:${redis.port} (messages db 1, sessions db 2)`);
    assert.equal(listening?.directory, `mysql wp@127.0.0.1:${mariadb.port}/wordpress (table wp_usermeta)`);
    assert.deepEqual((await request(server.url, '/readyz')).body.backends, { redis: 'up', mysql: 'up' });

    // A whole session's worth of traffic, then the admin's view of Redis.
    const reply = await postForm(server.url, { key: `${TEST_UUID}phone-01`, status: 'on' });
    assert.equal(reply.body.name, 'Téléphone 📱', reply.text);
    assert.equal(admin(env, 'device', 'status', TEST_UUID, 'phone-01'), 'on\n');
    const sent = await postForm(server.url, { key: `${TEST_UUID}phone-01`, message: encryptEnvelope(String(reply.body.message), '{"t":1}') });
    assert.equal(sent.body.message, Message.delivered, sent.text);
    const listed = admin(env, 'messages', '--limit', '5').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(listed.map((record) => record.id), [sent.body.id]);
    assert.equal(listed[0]!.payload, '{"t":1}');

    const output = server.output();
    assert.ok(!output.includes(REDIS_PASSWORD), 'the Redis password is not logged');
    assert.ok(!output.includes(DB_PASSWORD), 'the MySQL password is not logged');
  });

  test('REDIS_URL gives host, port and password; a database in its path does not override REDIS_MAIN_DB/REDIS_AUTH_DB', async () => {
    const withoutRedis = Object.fromEntries(Object.entries(env).filter(([name]) => !name.startsWith('REDIS_')));
    const server = await startServerProcess({ ...withoutRedis, REDIS_URL: `redis://:${encodeURIComponent(REDIS_PASSWORD)}@127.0.0.1:${redis.port}/7` });
    servers.push(server);
    const listening = server.logs.find((line) => line.msg === 'listening');
    assert.equal(listening?.store, `redis redis://127.0.0.1:${redis.port} (messages db 1, sessions db 2)`);
    assert.deepEqual((await request(server.url, '/readyz')).body.backends, { redis: 'up', mysql: 'up' });
    const reply = await postForm(server.url, { key: `${TEST_UUID}tablet`, status: 'on' });
    assert.equal(reply.body.code, Code.ok, reply.text);
    assert.ok(await redis.client(2).get(`${TEST_UUID}tablet`), 'the session is in REDIS_AUTH_DB');
    assert.equal(await redis.client(7).dbsize(), 0, 'nothing in the URL\'s database');
    assert.ok(!server.output().includes(REDIS_PASSWORD));
    await server.stop();
  });

  test('admin with MySQL down: one clear error line, no stack trace', async () => {
    await mariadb.stop();
    try {
      const result = adminResult(env, 'device', 'list', TEST_UUID);
      assert.equal(result.status, 1);
      assert.match(result.stderr, /^error: mysql unavailable: /m);
      assert.doesNotMatch(result.stderr, /\n\s+at /);
    } finally {
      await mariadb.start();
    }
  });

  test('start-up with Redis and MariaDB both down: the server starts, logs it, is not ready, and recovers as each returns', async () => {
    await Promise.all([redis.stop(), mariadb.stop()]);
    const server = await start();
    const unreachable = server.logs.filter((line) => line.msg === 'backend unreachable at start-up: starting anyway, not ready until it answers');
    assert.deepEqual([...new Set(unreachable.map((line) => line.backend))].sort(), ['mysql', 'redis']);

    const down = await request(server.url, '/readyz');
    assert.equal(down.status, 503);
    assert.deepEqual(down.body, { ...UNAVAILABLE, backends: { redis: 'down', mysql: 'down' } });
    assert.equal((await request(server.url, '/healthz')).status, 200, 'alive while not ready');
    const refused = await postForm(server.url, { key: `${TEST_UUID}phone-01`, status: 'off' });
    assert.equal(refused.status, 503);
    assert.deepEqual(refused.body, UNAVAILABLE);
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);

    await redis.start();
    const backends = async (): Promise<unknown> => (await request(server.url, '/readyz')).body.backends;
    await waitUntil(async () => JSON.stringify(await backends()) === '{"redis":"up","mysql":"down"}', 15_000, () => 'Redis not seen up');
    await mariadb.start();
    await waitUntil(async () => (await request(server.url, '/readyz')).status === 200, 15_000, () => 'not ready after both returned');

    // This Redis keeps nothing across a restart, so the device starts afresh.
    const auth = await postForm(server.url, { key: `${TEST_UUID}phone-01`, status: 'on' });
    assert.equal(auth.body.code, Code.ok, auth.text);
    const logout = await postForm(server.url, { key: `${TEST_UUID}phone-01`, status: 'off' });
    assert.equal(logout.body.message, Message.deleted, logout.text);
    assert.equal(server.child.exitCode, null);
  });
});
