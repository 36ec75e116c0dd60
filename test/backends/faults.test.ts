/**
 * Issue 3's faults, against a real Redis and MariaDB under the server process: each stopped
 * (killed) in the middle of a run of requests, then paused; a directory write refused after
 * a session was made. Every answer must be a correct success or SPEC §1's 503, never a 500
 * or a hang; /readyz must say which backend is down; service must resume by itself; and every
 * message answered `delivered` must be in Redis afterwards.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { findDevice } from '../../src/directory/device-list.js';
import { Code, Message } from '../../src/protocol/answers.js';
import { mysqlDirectoryTarget, redisStoreTarget, type DirectoryTarget, type StoreTarget } from '../contract/targets.js';
import { TEST_UUID } from '../helpers/embedded.js';
import { encryptEnvelope } from '../helpers/encrypt.js';
import { postForm, request, type Reply } from '../helpers/http.js';
import { skipWithoutMariadb, startMariadbServer, type MariadbServer } from '../helpers/mariadb-server.js';
import { skipIfAny, sleep, startBoth, waitUntil } from '../helpers/real-backends.js';
import { skipWithoutRedis, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { makeDataDir, startServerProcess, type ServerProcess } from '../helpers/server-process.js';

const SUITES = 'fault tests (test/backends/faults.test.ts)';
const skip = skipIfAny(skipWithoutRedis(SUITES), skipWithoutMariadb(SUITES));

const SENDERS = ['sender-0', 'sender-1', 'sender-2'];
const CYCLERS = ['cycler-0', 'cycler-1'];
const UNAVAILABLE = { message: Message.unavailable, code: Code.unavailable };

type Op = 'auth' | 'logout' | 'submit';
interface Exchange {
  op: Op;
  phase: string;
  reply?: Reply;
  error?: unknown;
}

describe('faults against the real Redis and MariaDB', { skip }, () => {
  let redis: RedisServer;
  let mariadb: MariadbServer;
  let store: StoreTarget;
  let directory: DirectoryTarget;
  let server: ServerProcess;
  let wpUserId: string;
  let data: { dir: string; remove: () => void };
  const key = (deviceId: string): string => `${TEST_UUID}${deviceId}`;
  const auth = (deviceId: string): Promise<Reply> => postForm(server.url, { key: key(deviceId), status: 'on' });
  const readyz = (): Promise<Reply> => request(server.url, '/readyz');
  const statusOf = async (deviceId: string): Promise<string | null | undefined> =>
    findDevice(await directory.devicesOf(wpUserId), deviceId)?.status;
  const waitReady = (what: string): Promise<void> =>
    waitUntil(async () => (await readyz()).status === 200, 20_000, () => `not ready again after ${what}`);

  before(async () => {
    // Persistent, so a killed Redis keeps everything it acknowledged (as a production Redis with AOF does).
    [redis, mariadb] = await startBoth(startRedisServer({ persistent: true }), startMariadbServer());
    data = makeDataDir();
    store = await redisStoreTarget(redis, 'sms:');
    directory = mysqlDirectoryTarget(mariadb);
    wpUserId = await directory.addUser(TEST_UUID);
    for (const id of [...SENDERS, ...CYCLERS, 'revoked', 'paused-db', 'fresh']) await directory.directory.addDevice(TEST_UUID, id, id);
    server = await startServerProcess({ DATA_DIR: data.dir, ...store.env, ...directory.env });
  });
  after(async () => {
    await server?.stop();
    await store?.close();
    await directory?.close();
    await Promise.all([redis?.close(), mariadb?.close()]);
    data?.remove();
  });

  test('Redis, then MariaDB, killed and restarted in the middle of a run of requests', async (t) => {
    const publicKeys = new Map<string, string>();
    for (const sender of SENDERS) {
      const reply = await auth(sender);
      assert.equal(reply.body.code, Code.ok, reply.text);
      publicKeys.set(sender, String(reply.body.message));
    }

    let phase = 'before';
    let running = true;
    const exchanges: Exchange[] = [];
    const call = async (op: Op, fields: Record<string, string>): Promise<void> => {
      // The phase a request started in: one in flight when a backend dies counts as before.
      const at = phase;
      try {
        exchanges.push({ op, phase: at, reply: await postForm(server.url, fields) });
      } catch (error) {
        exchanges.push({ op, phase: at, error });
      }
    };
    const senders = SENDERS.map(async (sender, w) => {
      for (let n = 0; running; n++) {
        const message = encryptEnvelope(publicKeys.get(sender)!, `{"w":${w},"n":${n}}`, { minute: 5000 + n });
        await call('submit', { key: key(sender), message });
        await sleep(20);
      }
    });
    const cyclers = CYCLERS.map(async (cycler) => {
      while (running) {
        await call('auth', { key: key(cycler), status: 'on' });
        await call('logout', { key: key(cycler), status: 'off' });
        await sleep(20);
      }
    });

    try {
      await sleep(1000);
      phase = 'redis down';
      await redis.stop('SIGKILL');
      await sleep(1500);
      const redisDown = await readyz();
      assert.equal(redisDown.status, 503, redisDown.text);
      assert.deepEqual(redisDown.body, { ...UNAVAILABLE, backends: { redis: 'down', mysql: 'up' } });
      await redis.start();
      phase = 'redis back';
      await waitReady('Redis restarted');
      await sleep(1000);

      phase = 'mysql down';
      await mariadb.stop('SIGKILL');
      await sleep(1500);
      const mysqlDown = await readyz();
      assert.equal(mysqlDown.status, 503, mysqlDown.text);
      assert.deepEqual(mysqlDown.body, { ...UNAVAILABLE, backends: { redis: 'up', mysql: 'down' } });
      await mariadb.start();
      phase = 'mysql back';
      await waitReady('MariaDB restarted');
      await sleep(1000);
    } finally {
      running = false;
      await Promise.all([...senders, ...cyclers]);
    }

    const delivered: string[] = [];
    for (const exchange of exchanges) {
      const { reply, op } = exchange;
      assert.ok(reply, `${op} in phase "${exchange.phase}" got no answer: ${String(exchange.error)}`);
      if (reply.status === 503) {
        assert.deepEqual(reply.body, UNAVAILABLE, reply.text);
        assert.ok(Number(reply.headers.get('retry-after')) >= 1, 'Retry-After');
        continue;
      }
      assert.equal(reply.status, 200, `${op} in phase "${exchange.phase}": ${reply.status} ${reply.text}`);
      if (op === 'submit') {
        assert.equal(reply.body.message, Message.delivered, reply.text);
        assert.match(String(reply.body.id), /^[0-9a-f]{64}$/);
        delivered.push(String(reply.body.id));
      } else if (op === 'auth') {
        assert.ok(
          (reply.body.code === Code.ok && String(reply.body.message).startsWith('-----BEGIN PUBLIC KEY-----')) ||
            (reply.body.code === Code.already && reply.body.message === Message.alreadyAuth),
          reply.text,
        );
      } else {
        assert.ok(
          (reply.body.code === Code.ok && reply.body.message === Message.deleted) ||
            (reply.body.code === Code.notFound && reply.body.message === Message.notFound),
          reply.text,
        );
      }
    }

    const count = (phaseName: string, wanted: (e: Exchange) => boolean): number =>
      exchanges.filter((e) => e.phase === phaseName && wanted(e)).length;
    const summary = Object.fromEntries(
      ['before', 'redis down', 'redis back', 'mysql down', 'mysql back'].map((p) => [
        p,
        { requests: count(p, () => true), unavailable: count(p, (e) => e.reply?.status === 503) },
      ]),
    );
    t.diagnostic(`requests and 503s per phase: ${JSON.stringify(summary)}`);
    assert.ok(count('redis down', (e) => e.op === 'submit' && e.reply?.status === 503) > 0, `submits met the Redis outage: ${JSON.stringify(summary)}`);
    assert.ok(count('mysql down', (e) => e.op === 'auth' && e.reply?.status === 503) > 0, `auths met the MariaDB outage: ${JSON.stringify(summary)}`);
    assert.ok(count('mysql down', (e) => e.op === 'submit' && e.reply?.body.message === Message.delivered) > 0, 'submits need no MySQL: delivered during its outage');
    assert.ok(count('mysql back', (e) => e.op === 'submit' && e.reply?.body.message === Message.delivered) > 0, 'delivering again after both outages');

    // Delivered means Redis has it: every one survived the crash and restart.
    for (const id of delivered) assert.ok(await store.rawMessage(id), `delivered message ${id} is in Redis`);
    assert.ok(delivered.length > 0);

    // Service resumed by itself: a new session, a message under it, the device on.
    const fresh = await auth('fresh');
    assert.equal(fresh.body.code, Code.ok, fresh.text);
    assert.equal(await statusOf('fresh'), 'on');
    const sent = await postForm(server.url, { key: key('fresh'), message: encryptEnvelope(String(fresh.body.message), 'after the storm') });
    assert.equal(sent.body.message, Message.delivered, sent.text);

    const logs = server.logs;
    assert.equal(logs.filter((line) => line.msg === 'unexpected error').length, 0, 'no 500-class bug behind any 503');
    assert.ok(logs.some((line) => line.backend === 'redis' && line.msg === 'redis reachable again'));
    assert.ok(logs.some((line) => line.backend === 'mysql' && line.msg === 'mysql reachable again'));
    assert.equal(server.child.exitCode, null, 'the server process stayed up');
  });

  test('the device status cannot be written after the session was made: the session is removed, the answer is 503', async () => {
    await mariadb.sql(`REVOKE UPDATE ON \`${mariadb.database}\`.\`${mariadb.tablePrefix}usermeta\` FROM ?@'127.0.0.1'`, [mariadb.user]);
    let reply: Reply;
    try {
      reply = await auth('revoked');
    } finally {
      await mariadb.sql(`GRANT UPDATE ON \`${mariadb.database}\`.\`${mariadb.tablePrefix}usermeta\` TO ?@'127.0.0.1'`, [mariadb.user]);
    }
    assert.equal(reply.status, 503, reply.text);
    assert.deepEqual(reply.body, UNAVAILABLE);
    assert.ok(Number(reply.headers.get('retry-after')) >= 1);
    assert.equal(await store.rawSession(key('revoked')), null, 'no session the client never got a key for');
    assert.equal(await statusOf('revoked'), 'off');
    const again = await auth('revoked');
    assert.equal(again.body.code, Code.ok, again.text);
    assert.equal(await statusOf('revoked'), 'on');
  });

  test('a paused Redis: a submit is answered 503 within seconds, never "delivered" before Redis has it', async () => {
    const pem = String((await auth('paused-db')).body.message);
    const envelope = encryptEnvelope(pem, 'while paused', { minute: 1 });
    redis.pause();
    let reply: Reply;
    const started = Date.now();
    try {
      reply = await postForm(server.url, { key: key('paused-db'), message: envelope });
    } finally {
      redis.resume();
    }
    const took = Date.now() - started;
    assert.equal(reply.status, 503, reply.text);
    assert.deepEqual(reply.body, UNAVAILABLE);
    assert.ok(took < 8000, `answered in ${took} ms`);
    await waitReady('Redis resumed');
    // The client retries, as a 503 asks: the message is then stored, once.
    const retry = await postForm(server.url, { key: key('paused-db'), message: envelope });
    assert.equal(retry.status, 200, retry.text);
    assert.ok(retry.body.message === Message.delivered || retry.body.message === Message.duplicate, retry.text);
    assert.ok(await store.rawMessage(String(retry.body.id)));
  });

  test('a paused MariaDB: an auth is answered 503 within seconds and leaves no session', async () => {
    assert.equal((await postForm(server.url, { key: key('fresh'), status: 'off' })).body.message, Message.deleted);
    mariadb.pause();
    let reply: Reply;
    const started = Date.now();
    try {
      reply = await auth('fresh');
    } finally {
      mariadb.resume();
    }
    const took = Date.now() - started;
    assert.equal(reply.status, 503, reply.text);
    assert.deepEqual(reply.body, UNAVAILABLE);
    assert.ok(took < 15_000, `answered in ${took} ms`);
    assert.equal(await store.rawSession(key('fresh')), null);
    await waitReady('MariaDB resumed');
    assert.equal((await auth('fresh')).body.code, Code.ok);
  });
});
