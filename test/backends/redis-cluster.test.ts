/**
 * The Redis backend on a real Redis Cluster (3 primaries, 3 replicas; SPEC §13), one cluster for
 * the whole file: the slot of a key as the servers compute it; the layout spreads messages and
 * sessions over every master while a session's keys share one slot; listing (admin messages,
 * session scans) covers every master; the repair gives a record cut off from its log entry by a
 * crash its entry at start-up, through the real server; /readyz needs every master; and the
 * configuration refuses what cannot go with REDIS_CLUSTER_NODES.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import type { Cluster } from 'ioredis';
import { openRedisStore, RedisKeys, type RedisStore } from '../../src/backends/redis/index.js';
import { keySlot } from '../../src/backends/redis/key-slot.js';
import { REPAIR_AFTER_MS } from '../../src/backends/redis/log-repair.js';
import { ConfigError, readConfig } from '../../src/config/config.js';
import type { MessageRecord } from '../../src/store/store.js';
import { redisClusterConfigFor } from '../contract/targets.js';
import { API_TOKEN, API_TOKENS } from '../helpers/consumer.js';
import { request } from '../helpers/http.js';
import { skipWithoutRedisCluster, startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js';
import { makeDataDir, startServerProcess } from '../helpers/server-process.js';

const USER = '0f8fad5b-d9cb-469f-a165-70867728950e';
const PREFIX = 'c:';
const keys = new RedisKeys(PREFIX, 'cluster');
let counter = 0;

function record(deviceId = 'd1'): MessageRecord {
  const n = counter++;
  return {
    id: `${n.toString(16).padStart(8, '0')}${'ab'.repeat(28)}`,
    user_id: USER,
    device_id: deviceId,
    device_name: deviceId,
    minute: n,
    received_at: new Date().toISOString(),
    payload: `payload ${n}`,
  };
}

describe('Redis backend on a real Redis Cluster', { skip: skipWithoutRedisCluster('the Redis Cluster backend suite') }, () => {
  let cluster: RedisCluster;
  let client: Cluster;
  let store: RedisStore;

  before(async () => {
    cluster = await startRedisCluster();
    client = cluster.client();
    store = await openRedisStore(redisClusterConfigFor(cluster, PREFIX), pino({ level: 'silent' }), { sessionTtlSeconds: 60 });
  });
  after(async () => {
    await store?.handle.close();
    await cluster?.close();
  });

  test('keySlot is the slot the servers compute, hash tags included', async () => {
    const samples = ['a', 'msg:{abc}', 'c:session:{uuid-dev}', '{}x', 'a{}{b}', '{sms-log}:entries', 'Zoë 📱', `c:msg:{${'f'.repeat(64)}}`];
    for (const key of samples) assert.equal(keySlot(key), Number(await client.call('CLUSTER', 'KEYSLOT', key)), key);
  });

  test("a session's keys share one slot; messages and sessions spread over every master", async () => {
    const clientKey = `${USER}tablet`;
    const slots = new Set([keys.session(clientKey), keys.sessionGuard(clientKey), keys.recheck(clientKey), keys.deletedInSession(clientKey)].map(keySlot));
    assert.equal(slots.size, 1);
    const id = record().id;
    assert.equal(keySlot(keys.message(id)), keySlot(keys.unlogged(id)));
    // The single layout stays byte for byte (SPEC §7 readers).
    const single = new RedisKeys(PREFIX);
    assert.equal(single.message(id), `${PREFIX}${id}`);
    assert.equal(single.session(clientKey), `${PREFIX}${clientKey}`);
    assert.equal(single.sessionGuard(clientKey), `${PREFIX}${clientKey}#guard`);

    const owners = new Set<string>();
    for (let i = 0; i < 30; i++) owners.add((await cluster.masterOf(keys.message(record().id))).address);
    for (let i = 0; i < 30; i++) owners.add((await cluster.masterOf(keys.session(`${USER}dev-${i}`))).address);
    assert.equal(owners.size, 3, 'keys land on all three masters');
  });

  test('listing covers every master: admin messages and the session scan see every key', async () => {
    await cluster.reset();
    const records = Array.from({ length: 60 }, () => record());
    for (const r of records) assert.equal(await store.messages.putIfAbsent(r, 0), true);
    const sessionKeys = Array.from({ length: 30 }, (_, i) => `${USER}dev-${i}`);
    for (const clientKey of sessionKeys) {
      assert.equal(await store.sessions.create(clientKey, { user_id: USER, device_id: clientKey.slice(USER.length), device_name: 'x', private_key: 'k', created_at: new Date().toISOString() }, 0), true);
    }
    // The keys really are on several masters, so a one-node SCAN would have missed some.
    const perMaster = await Promise.all((await cluster.masters()).map((node) => cluster.nodeClient(node).dbsize()));
    assert.ok(perMaster.every((n) => n > 0), `every master holds keys: ${perMaster.join(', ')}`);

    const listed = await store.messages.list(1000);
    assert.deepEqual(listed.map((r) => r.id).sort(), records.map((r) => r.id).sort());
    assert.equal((await store.messages.list(7)).length, 7, 'the limit still holds across masters');
    const sessions = await store.sessionRewriter.list();
    assert.deepEqual(sessions.map((s) => s.clientKey).sort(), [...sessionKeys].sort());
  });

  test('the repair at start-up: a record whose store stopped before its log entry is in the log once the server answers', async () => {
    await cluster.reset();
    const logged = record();
    assert.equal(await store.messages.putIfAbsent(logged, 0), true);
    // What a crash between storeRecord-2.lua and appendLog-2.lua leaves: the record and its
    // marker, no entry. Written directly, as the crashed process left them a minute ago.
    const cutOff = record();
    const longAgo = String(Date.now() - 2 * REPAIR_AFTER_MS);
    await client.set(keys.message(cutOff.id), JSON.stringify(cutOff));
    await client.set(keys.unlogged(cutOff.id), longAgo);
    // A crash after appendLog-2.lua but before the marker went: the entry must not move or double.
    const alreadyLogged = record();
    assert.equal(await store.messages.putIfAbsent(alreadyLogged, 0), true);
    const scoreBefore = await client.zscore(keys.logEntries, alreadyLogged.id);
    await client.set(keys.unlogged(alreadyLogged.id), longAgo);
    // A marker whose record is gone (expired, deleted) needs no entry.
    const gone = record();
    await client.set(keys.unlogged(gone.id), longAgo);
    // A young marker: a request may still be writing its entry, so the repair leaves it.
    const inFlight = record();
    await client.set(keys.message(inFlight.id), JSON.stringify(inFlight));
    await client.set(keys.unlogged(inFlight.id), String(Date.now()));

    const data = makeDataDir();
    const server = await startServerProcess({ DATA_DIR: data.dir, API_TOKENS, ...cluster.env, REDIS_KEY_PREFIX: PREFIX });
    try {
      const page = await request(server.url, '/v1/messages?limit=1000', { headers: { authorization: `Bearer ${API_TOKEN}` } });
      assert.equal(page.status, 200, page.text);
      const ids = (page.body.messages as Array<{ record: MessageRecord }>).map((item) => item.record.id);
      assert.deepEqual(ids, [logged.id, alreadyLogged.id, cutOff.id]);
      assert.equal(await client.zscore(keys.logEntries, alreadyLogged.id), scoreBefore, 'an entry already there stays where it was');
      for (const done of [cutOff, alreadyLogged, gone]) assert.equal(await client.exists(keys.unlogged(done.id)), 0, 'the marker went');
      assert.equal(await client.zscore(keys.logEntries, gone.id), null, 'a record that is gone gets no entry');
      assert.equal(await client.exists(keys.unlogged(inFlight.id)), 1, 'a young marker is left to its request');
      assert.equal(await client.zscore(keys.logEntries, inFlight.id), null);
      const repairedLine = server.logs.find((line) => line.msg === 'redis cluster: log entries of records stored before a crash written now');
      assert.equal(repairedLine?.repaired, 1);
    } finally {
      await server.stop();
      data.remove();
    }
  });

  test('/readyz pings every master: one that does not answer makes the store unavailable until it does', async () => {
    await store.handle.ping();
    const [master] = await cluster.masters();
    assert.ok(master);
    master.pause();
    try {
      await assert.rejects(store.handle.ping(), /redis unavailable/);
    } finally {
      master.resume();
    }
    await cluster.waitHealthy();
    await store.handle.ping();
  });
});

describe('REDIS_CLUSTER_NODES settings', () => {
  const base = { REDIS_CLUSTER_NODES: '10.0.0.5:6379, 10.0.0.6:6380,[::1]:7000' };

  test('a list of host:port is the cluster; database 0 for both roles', () => {
    const redis = readConfig(base).redis;
    assert.deepEqual(redis?.clusterNodes, [
      { host: '10.0.0.5', port: 6379 },
      { host: '10.0.0.6', port: 6380 },
      { host: '::1', port: 7000 },
    ]);
  });

  test('what cannot go with a cluster is a one-line error naming the variable', () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ REDIS_CLUSTER_NODES: '10.0.0.5' }, 'REDIS_CLUSTER_NODES'],
      [{ REDIS_CLUSTER_NODES: '10.0.0.5:99999' }, 'REDIS_CLUSTER_NODES'],
      [{ REDIS_CLUSTER_NODES: ' , ' }, 'REDIS_CLUSTER_NODES'],
      [{ ...base, REDIS_HOST: '10.0.0.5' }, 'REDIS_HOST'],
      [{ ...base, REDIS_PORT: '6379' }, 'REDIS_PORT'],
      [{ ...base, REDIS_MAIN_DB: '1' }, 'REDIS_MAIN_DB'],
      [{ ...base, REDIS_AUTH_DB: '2' }, 'REDIS_AUTH_DB'],
      [{ ...base, REDIS_SENTINELS: '10.0.0.9:26379' }, 'REDIS_SENTINELS'],
      [{ ...base, REDIS_URL: 'redis://:secret-pw@10.0.0.9:6379' }, 'REDIS_URL'],
      [{ ...base, REDIS_KEY_PREFIX: 'app{1}:' }, 'REDIS_KEY_PREFIX'],
    ];
    for (const [env, variable] of cases) {
      assert.throws(
        () => readConfig(env),
        (error: unknown) => error instanceof ConfigError && error.variable === variable && !error.message.includes('\n') && !error.message.includes('secret-pw'),
        JSON.stringify(env),
      );
    }
  });

  test("a REDIS_URL naming one of the nodes gives every node its user, password and TLS", () => {
    const redis = readConfig({ ...base, REDIS_URL: 'rediss://app:pw@10.0.0.6:6380' }).redis;
    assert.equal(redis?.url, 'rediss://app:pw@10.0.0.6:6380');
    assert.equal(redis?.clusterNodes?.length, 3);
  });
});
