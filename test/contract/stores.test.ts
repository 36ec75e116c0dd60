/**
 * One contract, every store (SQLite; Redis without and with REDIS_KEY_PREFIX): SessionStore and
 * MessageStore behave alike and write the same bytes (SPEC §4, §6, §7).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import pino from 'pino';
import { REDIS_COMMAND_TIMEOUT_MS } from '../../src/backends/redis/connection.js';
import { openRedisStore } from '../../src/backends/redis/index.js';
import { BackendUnavailableError } from '../../src/backends/unavailable.js';
import type { MessageRecord, SessionRecord } from '../../src/store/store.js';
import { freePort, sleep } from '../helpers/real-backends.js';
import { assertEachRefusedBefore } from '../helpers/refused.js';
import { skipWithoutRedisCluster, startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js';
import { skipWithoutRedis, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { makeDataDir } from '../helpers/server-process.js';
import {
  assertExpiryNear,
  AUTH_DB,
  MAIN_DB,
  redisClusterStoreTarget,
  redisConfigFor,
  redisStoreTarget,
  sqliteStoreTarget,
  type StoreTarget,
} from './targets.js';

const redisSkip = skipWithoutRedis('store contract on Redis (test/contract/stores.test.ts)');
let redisServer: Promise<RedisServer> | undefined;
const redis = (): Promise<RedisServer> => (redisServer ??= startRedisServer());
after(async () => (await redisServer)?.close());
const clusterSkip = skipWithoutRedisCluster('store contract on Redis Cluster (test/contract/stores.test.ts)');
let redisCluster: Promise<RedisCluster> | undefined;
after(async () => (await redisCluster)?.close());

const KEY = '0f8fad5b-d9cb-469f-a165-70867728950ephone-01';
const SESSION: SessionRecord = {
  user_id: '0f8fad5b-d9cb-469f-a165-70867728950e',
  device_id: 'phone-01',
  device_name: 'Téléphone "de" Zoë 📱',
  private_key: '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n',
  created_at: '2026-11-27T17:05:00.000Z',
};
/** SPEC §7's layout, byte for byte: every store must write exactly this. */
const SESSION_BYTES =
  '{"user_id":"0f8fad5b-d9cb-469f-a165-70867728950e","device_id":"phone-01","device_name":"Téléphone \\"de\\" Zoë 📱",' +
  '"private_key":"-----BEGIN PRIVATE KEY-----\\nMIIE\\n-----END PRIVATE KEY-----\\n","created_at":"2026-11-27T17:05:00.000Z"}';

function message(n: number, minute: number | string = 29412345): MessageRecord {
  return {
    id: n.toString(16).padStart(64, 'a'),
    user_id: SESSION.user_id,
    device_id: 'phone-01',
    device_name: 'Phone',
    minute,
    received_at: '2026-11-27T17:05:01.234Z',
    payload: `{"n":${n},"text":"line\\nbreak ✓ 𝄞"}`,
  };
}
const MESSAGE_BYTES =
  `{"id":"${'a'.repeat(63)}1","user_id":"0f8fad5b-d9cb-469f-a165-70867728950e","device_id":"phone-01","device_name":"Phone",` +
  '"minute":29412345,"received_at":"2026-11-27T17:05:01.234Z","payload":"{\\"n\\":1,\\"text\\":\\"line\\\\nbreak ✓ 𝄞\\"}"}';

const targets: Array<{ name: string; skip: string | false; open: () => Promise<StoreTarget> }> = [
  {
    name: 'sqlite',
    skip: false,
    open: async () => {
      const data = makeDataDir();
      const target = sqliteStoreTarget(data.dir);
      return { ...target, close: async () => (await target.close(), data.remove()) };
    },
  },
  { name: 'redis', skip: redisSkip, open: async () => redisStoreTarget(await redis()) },
  { name: 'redis with REDIS_KEY_PREFIX "sms{1}:*"', skip: redisSkip, open: async () => redisStoreTarget(await redis(), 'sms{1}:*') },
  { name: 'redis cluster, REDIS_KEY_PREFIX "sms:*"', skip: clusterSkip, open: async () => redisClusterStoreTarget(await (redisCluster ??= startRedisCluster()), 'sms:*') },
];

for (const { name, skip, open } of targets) {
  describe(`store contract: ${name}`, { skip }, () => {
    let store: StoreTarget;
    before(async () => {
      store = await open();
      await store.reset();
    });
    after(async () => store.close());

    test('a session is created once (set-if-absent) and read back as written', async () => {
      assert.equal(await store.sessions.create(KEY, SESSION, 0), true);
      assert.equal(await store.sessions.create(KEY, { ...SESSION, device_name: 'other' }, 0), false);
      assert.deepEqual(await store.sessions.get(KEY), SESSION);
      assert.equal(await store.rawSession(KEY), SESSION_BYTES);
    });

    test('session expiry: TTL on create, renewed by renew, removed by renew with 0; renew never creates', async () => {
      const key = `${KEY}-ttl`;
      assert.equal(await store.sessions.create(key, SESSION, 3600), true);
      assertExpiryNear(await store.sessionExpiry(key), 3600);
      await store.sessions.renew(key, 7200);
      assertExpiryNear(await store.sessionExpiry(key), 7200);
      await store.sessions.renew(key, 0);
      assert.equal(await store.sessionExpiry(key), null);
      assert.equal(await store.sessionExpiry(KEY), null, 'TTL 0 on create: no expiry');
      await store.sessions.renew(`${KEY}-absent`, 3600);
      assert.equal(await store.sessions.get(`${KEY}-absent`), null);
      assert.equal(await store.sessionExpiry(`${KEY}-absent`), undefined);
    });

    test('delete is true once, then false; the session is gone', async () => {
      const key = `${KEY}-delete`;
      await store.sessions.create(key, SESSION, 0);
      assert.equal(await store.sessions.delete(key), true);
      assert.equal(await store.sessions.delete(key), false);
      assert.equal(await store.sessions.get(key), null);
      assert.equal(await store.rawSession(key), null);
    });

    test('a message is stored once (set-if-absent): a duplicate changes nothing', async () => {
      const first = message(1);
      assert.equal(await store.messages.putIfAbsent(first, 0), true);
      assert.equal(await store.messages.putIfAbsent({ ...first, payload: 'changed', received_at: '2030-01-01T00:00:00.000Z' }, 0), false);
      assert.deepEqual(await store.messages.get(first.id), first);
      assert.equal(await store.rawMessage(first.id), MESSAGE_BYTES);
      assert.equal(await store.messageExpiry(first.id), null);
    });

    test('the minute is kept as received: an integer stays a number, a string a string', async () => {
      const asString = message(2, '2026-11-27 17:05');
      await store.messages.putIfAbsent(asString, 0);
      assert.equal((await store.messages.get(asString.id))?.minute, '2026-11-27 17:05');
      assert.match((await store.rawMessage(asString.id)) ?? '', /"minute":"2026-11-27 17:05"/);
    });

    test('message expiry: MESSAGE_TTL_SECONDS on store', async () => {
      const expiring = message(3);
      await store.messages.putIfAbsent(expiring, 600);
      assertExpiryNear(await store.messageExpiry(expiring.id), 600);
    });

    test('expired records are absent, and an expired session can be created again', async () => {
      const key = `${KEY}-expires`;
      const soon = message(4);
      await store.sessions.create(key, SESSION, 1);
      await store.messages.putIfAbsent(soon, 1);
      await sleep(1200);
      assert.equal(await store.sessions.get(key), null);
      assert.equal(await store.messages.get(soon.id), null);
      assert.equal(await store.sessions.create(key, SESSION, 0), true);
      assert.equal(await store.messages.putIfAbsent(soon, 0), true);
    });

    test('concurrent set-if-absent: 25 creates of one session, one wins; 10 puts of one message, one wins; 50 distinct puts all land', async () => {
      const key = `${KEY}-race`;
      const created = await Promise.all(Array.from({ length: 25 }, (_, i) => store.sessions.create(key, { ...SESSION, device_name: `n${i}` }, 3600)));
      assert.equal(created.filter(Boolean).length, 1);
      const winner = created.indexOf(true);
      assert.equal((await store.sessions.get(key))?.device_name, `n${winner}`, 'the stored session is the winner\'s');
      const same = message(60);
      const put = await Promise.all(Array.from({ length: 10 }, (_, i) => store.messages.putIfAbsent({ ...same, payload: `p${i}` }, 0)));
      assert.equal(put.filter(Boolean).length, 1);
      assert.equal((await store.messages.get(same.id))?.payload, `p${put.indexOf(true)}`);
      const distinct = Array.from({ length: 50 }, (_, i) => message(100 + i));
      assert.ok((await Promise.all(distinct.map((record) => store.messages.putIfAbsent(record, 0)))).every(Boolean));
      for (const record of distinct) assert.deepEqual(await store.messages.get(record.id), record);
    });

    test('list(limit) gives stored messages, at most limit of them', async () => {
      await store.reset();
      const records = [10, 11, 12, 13, 14].map((n) => message(n));
      for (const record of records) await store.messages.putIfAbsent(record, 0);
      await store.sessions.create(KEY, SESSION, 0);
      const all = await store.messages.list(100);
      assert.deepEqual(
        all.map((r) => r.id).sort(),
        records.map((r) => r.id).sort(),
      );
      for (const record of all) assert.deepEqual(record, records.find((r) => r.id === record.id));
      assert.equal((await store.messages.list(2)).length, 2);
    });
  });
}

describe('Redis key layout (SPEC §7)', { skip: redisSkip }, () => {
  let server: RedisServer;
  let main: Redis;
  let auth: Redis;
  let db0: Redis;
  before(async () => {
    server = await redis();
    main = server.client(MAIN_DB);
    auth = server.client(AUTH_DB);
    db0 = server.client(0);
  });

  for (const prefix of ['', 'sms:']) {
    test(`prefix ${JSON.stringify(prefix)}: the message under <prefix><id> in REDIS_MAIN_DB, the session under <prefix><client key> in REDIS_AUTH_DB, and beside it only the SPEC §9 log`, async () => {
      await Promise.all([main.flushdb(), auth.flushdb(), db0.flushdb()]);
      const store = await redisStoreTarget(server, prefix);
      try {
        const record = message(20);
        await store.messages.putIfAbsent(record, 0);
        await store.sessions.create(KEY, SESSION, 0);
        // SPEC §9: the message log lives beside the records, under names no §7 reader takes for a message.
        assert.deepEqual((await main.keys('*')).sort(), [`${prefix}${record.id}`, `${prefix}{sms-log}:entries`, `${prefix}{sms-log}:seq`].sort());
        assert.deepEqual(await main.zrange(`${prefix}{sms-log}:entries`, '0', '-1', 'WITHSCORES'), [record.id, '1']);
        assert.deepEqual(await auth.keys('*'), [`${prefix}${KEY}`]);
        assert.deepEqual(await db0.keys('*'), []);
        assert.equal(await auth.get(`${prefix}${KEY}`), SESSION_BYTES);
        assert.equal(await main.get(`${prefix}${record.id}`), JSON.stringify(record));
      } finally {
        await store.close();
      }
    });
  }

  test('list() reads only message-shaped keys under its own prefix, never other data in the database', async () => {
    await main.flushdb();
    const plain = await redisStoreTarget(server, '');
    const prefixed = await redisStoreTarget(server, 'app[1]:');
    try {
      await plain.messages.putIfAbsent(message(30), 0);
      await prefixed.messages.putIfAbsent(message(31), 0);
      await main.set('unrelated', 'x');
      await main.set(`${'b'.repeat(64)}x`, 'x');
      await main.set(`app1:${'c'.repeat(64)}`, 'x');
      assert.deepEqual((await plain.messages.list(100)).map((r) => r.id), [message(30).id]);
      assert.deepEqual((await prefixed.messages.list(100)).map((r) => r.id), [message(31).id]);
    } finally {
      await Promise.all([plain.close(), prefixed.close()]);
    }
  });

  test('REDIS_MAIN_DB and REDIS_AUTH_DB choose the databases', async () => {
    await Promise.all([server.client(5).flushdb(), server.client(6).flushdb()]);
    const store = await openRedisStore({ ...redisConfigFor(server, ''), mainDb: 5, authDb: 6 }, pino({ level: 'silent' }));
    try {
      await store.messages.putIfAbsent(message(40), 0);
      await store.sessions.create(KEY, SESSION, 0);
      assert.ok(await server.client(5).get(message(40).id));
      assert.ok(await server.client(6).get(KEY));
    } finally {
      await store.handle.close();
    }
  });
});

describe('an unreachable store throws BackendUnavailableError at once', () => {
  test('sqlite, closed', async () => {
    const data = makeDataDir();
    const store = sqliteStoreTarget(data.dir);
    await store.close();
    data.remove();
    await assert.rejects(store.sessions.get(KEY), BackendUnavailableError);
    await assert.rejects(store.messages.putIfAbsent(message(50), 0), BackendUnavailableError);
  });

  test('redis, nothing listening', { skip: redisSkip }, async () => {
    const port = await freePort();
    const store = await openRedisStore(
      { url: undefined, host: '127.0.0.1', port, password: undefined, mainDb: 1, authDb: 2, keyPrefix: '' },
      pino({ level: 'silent' }),
    );
    try {
      await assertEachRefusedBefore(
        {
          'sessions.create': () => store.sessions.create(KEY, SESSION, 0),
          'sessions.get': () => store.sessions.get(KEY),
          'sessions.renew': () => store.sessions.renew(KEY, 10),
          'sessions.delete': () => store.sessions.delete(KEY),
          'messages.putIfAbsent': () => store.messages.putIfAbsent(message(51), 0),
          'messages.get': () => store.messages.get(message(51).id),
          'messages.list': () => store.messages.list(10),
          ping: () => store.handle.ping(),
        },
        BackendUnavailableError,
        REDIS_COMMAND_TIMEOUT_MS,
      );
    } finally {
      await store.handle.close();
    }
  });
});
