/**
 * The Redis backend on a real Redis Cluster (3 primaries, 3 replicas; SPEC §13), one cluster for
 * the whole file: the slot of a key as the servers compute it; the layout spreads messages and
 * sessions over every master while a session's keys share one slot; listing (admin messages,
 * session scans) covers every master; a live resharding under load leaks no redirection; the
 * repair gives a record cut off from its log entry by a crash its entry at start-up, through the
 * real server, moves an entry an earlier record of the id left to the end of the log (so a
 * consumer past it reads the new record) and runs on its timer; the per-key stores work; /readyz needs every master; the
 * harness's kill and restart (test/helpers/redis-cluster.ts, for the failover drills) work; and
 * the configuration refuses what cannot go with REDIS_CLUSTER_NODES.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import type { Cluster } from 'ioredis';
import { openRedisStore, RedisKeys, type RedisStore } from '../../src/backends/redis/index.js';
import { REDIS_COMMAND_TIMEOUT_MS } from '../../src/backends/redis/connection.js';
import { keySlot } from '../../src/backends/redis/key-slot.js';
import { RedisLogRepair, REPAIR_AFTER_MS, SeenLogHead } from '../../src/backends/redis/log-repair.js';
import { RedisLoggedMessageStore } from '../../src/backends/redis/message-log.js';
import { BackendUnavailableError } from '../../src/backends/unavailable.js';
import { ConfigError, readConfig } from '../../src/config/config.js';
import type { MessageRecord } from '../../src/store/store.js';
import { redisClusterConfigFor } from '../contract/targets.js';
import { API_TOKEN, API_TOKENS } from '../helpers/consumer.js';
import { request } from '../helpers/http.js';
import { freePort, sleep, waitUntil } from '../helpers/real-backends.js';
import { assertEachRefusedBefore } from '../helpers/refused.js';
import { skipWithoutRedisCluster, startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js';
import { admin, makeDataDir, startServerProcess } from '../helpers/server-process.js';

const USER = '0f8fad5b-d9cb-469f-a165-70867728950e';
const PREFIX = 'c:';
const keys = new RedisKeys(PREFIX, 'cluster');
let counter = 0;

/** The cluster store with a crash standing in for one of its steps: the request dies there, as a killed process would. */
class CrashingStore extends RedisLoggedMessageStore {
  constructor(
    client: Cluster,
    seen: SeenLogHead,
    private readonly crashAt: 'entry' | 'marker',
  ) {
    super(client, keys, 60, undefined, seen);
  }

  protected override async appendEntry(id: string): Promise<void> {
    if (this.crashAt === 'entry') throw new Error('crashed before the log entry');
    await super.appendEntry(id);
  }

  protected override async forgetMarker(id: string, marker: string): Promise<void> {
    if (this.crashAt === 'marker') throw new Error('crashed before the marker went');
    await super.forgetMarker(id, marker);
  }
}

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

    // The operator's command, as a separate process on the same cluster.
    const data = makeDataDir();
    try {
      const printed = admin({ DATA_DIR: data.dir, ...cluster.env, REDIS_KEY_PREFIX: PREFIX }, 'messages', '--limit', '1000')
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as MessageRecord).id);
      assert.deepEqual(printed.sort(), records.map((r) => r.id).sort());
    } finally {
      data.remove();
    }
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
      // The repair ran before the server listened, so the first answer already holds the entry. A
      // 503 (a command timeout, or load shedding on a busy machine) is a legitimate answer: ask again.
      const read = () => request(server.url, '/v1/messages?limit=1000', { headers: { authorization: `Bearer ${API_TOKEN}` } });
      let page = await read();
      for (let attempt = 0; page.status === 503 && attempt < 20; attempt++) {
        await sleep(500);
        page = await read();
      }
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

  test('the repair moves an entry an earlier record of the id left to the end of the log: a consumer past its old position reads the new record; an entry the interrupted attempt wrote stays', async () => {
    await cluster.reset();
    const seen = new SeenLogHead();
    const steps = new RedisLoggedMessageStore(client, keys, 60, undefined, seen);
    const log = store.consumer.log;
    const scoreOf = async (id: string): Promise<number | null> => {
      const score = await client.zscore(keys.logEntries, id);
      return score === null ? null : Number(score);
    };

    // An id stored, its record gone (expired; deleted by hand here) while its entry is still in the log.
    const again = record();
    assert.equal(await steps.putIfAbsent(again, 0), true);
    const oldPosition = await scoreOf(again.id);
    assert.ok(oldPosition !== null);
    const later = record();
    assert.equal(await steps.putIfAbsent(later, 0), true);
    // A consumer has read up to here: past the id's old position.
    const cursor = (await scoreOf(later.id))!;
    await client.del(keys.message(again.id));

    // Stored again, and the process dies before the log entry: the old entry keeps its position.
    await assert.rejects(new CrashingStore(client, seen, 'entry').putIfAbsent(again, 0));
    assert.ok(await client.exists(keys.message(again.id), keys.unlogged(again.id)) === 2, 'record and marker are there');
    assert.equal(await scoreOf(again.id), oldPosition, 'the entry is still the earlier record’s');
    // The ordinary crash cases beside it: no entry at all, and the attempt's own entry written.
    const neverLogged = record();
    await assert.rejects(new CrashingStore(client, seen, 'entry').putIfAbsent(neverLogged, 0));
    const ownEntry = record();
    await assert.rejects(new CrashingStore(client, seen, 'marker').putIfAbsent(ownEntry, 0));
    const ownPosition = await scoreOf(ownEntry.id);
    assert.ok(ownPosition !== null && ownPosition > cursor);

    const repair = new RedisLogRepair(client, keys, seen);
    // As a pass REPAIR_AFTER_MS later: every marker counts as left by a crash.
    const passTime = Date.now() + 2 * REPAIR_AFTER_MS;
    assert.equal(await repair.run(passTime), 2, 'the moved entry and the missing one were written');
    const after = await log.entriesAfter(cursor, 100);
    const ids = after.map((entry) => entry.id);
    assert.ok(ids.includes(again.id), 'read after the old cursor');
    assert.ok((await scoreOf(again.id))! > cursor);
    assert.equal(ids.filter((id) => id === again.id).length, 1, 'once');
    assert.ok(ids.includes(neverLogged.id));
    assert.equal(await scoreOf(ownEntry.id), ownPosition, "the attempt's own entry stays where it was (no consumer reads it twice)");
    assert.deepEqual(await log.records([again.id]), [again], 'and its record is the new one');
    for (const r of [again, neverLogged, ownEntry]) assert.equal(await client.exists(keys.unlogged(r.id)), 0, 'the marker went');
    // Once per id: a second pass moves nothing.
    const positions = await Promise.all([again, neverLogged, ownEntry].map((r) => scoreOf(r.id)));
    assert.equal(await repair.run(passTime), 0);
    assert.deepEqual(await Promise.all([again, neverLogged, ownEntry].map((r) => scoreOf(r.id))), positions);

    // A process that has stored nothing yet learns the head from its first pass, so its markers carry it too.
    const fresh = new SeenLogHead();
    await new RedisLogRepair(client, keys, fresh).run();
    assert.equal(fresh.sequence, Number(await client.get(keys.logSequence)));
  });

  test('the repair runs on its timer too, in every process (an interval injected here instead of the minute)', async () => {
    await cluster.reset();
    const repair = new RedisLogRepair(client, keys, new SeenLogHead());
    const timer = await repair.start(pino({ level: 'silent' }), 100);
    try {
      // Left by a crash after the start-up pass (an old marker, no entry).
      const cutOff = record();
      await client.set(keys.message(cutOff.id), JSON.stringify(cutOff));
      await client.set(keys.unlogged(cutOff.id), `${Date.now() - 2 * REPAIR_AFTER_MS}:0`);
      const started = Date.now();
      while ((await client.zscore(keys.logEntries, cutOff.id)) === null) {
        assert.ok(Date.now() - started < 20_000, 'the timer repaired the record');
        await sleep(50);
      }
      assert.equal(await client.exists(keys.unlogged(cutOff.id)), 0);
    } finally {
      timer.stop();
    }
    // Stopped: a marker left now stays (after a grace for a pass that was already under way).
    await sleep(1000);
    const afterStop = record();
    await client.set(keys.message(afterStop.id), JSON.stringify(afterStop));
    await client.set(keys.unlogged(afterStop.id), `${Date.now() - 2 * REPAIR_AFTER_MS}:0`);
    await sleep(500);
    assert.equal(await client.exists(keys.unlogged(afterStop.id)), 1, 'no pass after stop()');
  });

  // With ioredis's auto-pipelining on, this load gets raw "MOVED <slot> <node>" errors (tried:
  // cluster-connection.ts says why); one by one, every command follows its redirection.
  test('a live resharding under 64 concurrent lanes: no command fails with a redirection (MOVED, ASK, TRYAGAIN), and every stored record is there after', async () => {
    await cluster.reset();
    const [from, to] = await cluster.masters();
    assert.ok(from && to);
    const stored: MessageRecord[] = [];
    const failures: string[] = [];
    let resharding = true;
    const load = async (): Promise<void> => {
      while (resharding) {
        const r = record();
        try {
          if (await store.messages.putIfAbsent(r, 0)) stored.push(r);
          else failures.push(`${r.id} answered as a duplicate`);
          assert.deepEqual(await store.messages.get(r.id), r);
        } catch (error) {
          failures.push(error instanceof Error ? error.message : String(error));
        }
      }
    };
    // Records in the slots about to move, so MIGRATE has keys to move while the load runs.
    for (let i = 0; i < 200; i++) {
      const r = record();
      assert.equal(await store.messages.putIfAbsent(r, 0), true);
      stored.push(r);
    }
    const lanes = Array.from({ length: 64 }, load);
    try {
      await cluster.reshard(from, to, 300);
    } finally {
      resharding = false;
      await Promise.all(lanes);
    }
    await cluster.waitHealthy();
    // A command timeout on a machine this busy is a 503, a legitimate answer; a redirection is not.
    assert.deepEqual(failures.filter((message) => /MOVED|ASK|TRYAGAIN|CROSSSLOT|duplicate/.test(message)), [], 'no redirection reached the store');
    assert.ok(failures.length < stored.length / 10, `few failures at all: ${failures.slice(0, 5).join('; ')}`);
    assert.ok(stored.length > 200, 'the load stored records while the slots moved');
    const logged = new Set((await store.consumer.log.entriesAfter(0, 100_000)).map((entry) => entry.id));
    for (const r of stored) {
      assert.deepEqual(await store.messages.get(r.id), r);
      assert.ok(logged.has(r.id), `${r.id} is in the log`);
    }
  });

  test('the per-key stores (failure budgets, rechecks, session guard, installation secrets) work on the cluster', async () => {
    const subjects = ['key:' + 'a'.repeat(64), 'address:192.0.2.7', 'address:2001:db8::1'];
    await store.failures.add(subjects, 60_000);
    await store.failures.add(subjects.slice(0, 1), 60_000);
    const counts = await store.failures.counts(subjects);
    assert.deepEqual(counts.map((c) => [c.subject, c.count]), [[subjects[0], 2], [subjects[1], 1], [subjects[2], 1]]);
    const clientKey = `${USER}guarded`;
    assert.equal(await store.rechecks.claimDue(clientKey, 60_000), true);
    assert.equal(await store.rechecks.claimDue(clientKey, 60_000), false);
    const scope = { clientKey, createdAt: '2026-12-02T00:00:00.000Z' };
    assert.equal(await store.guard.claimContent(scope, 'f'.repeat(64), record().id, 60), null);
    assert.equal(await store.guard.countInvalid(scope, 60), 1);
    assert.equal(await store.guard.countInvalid(scope, 60), 2);
    const secret = await store.installationSecrets.getOrCreate('log-tag', 'first');
    assert.equal(await store.installationSecrets.getOrCreate('log-tag', 'second'), secret);
    assert.equal(await client.get(keys.installationSecret('log-tag')), secret);
    assert.equal(await client.exists(keys.sessionGuard(clientKey)), 1);
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

  test('the harness: 3 primaries and 3 replicas; a killed primary fails over to its replica and rejoins as one on restart', async () => {
    assert.equal((await cluster.masters()).length, 3);
    assert.equal((await cluster.replicas()).length, 3);
    assert.match(cluster.env.REDIS_CLUSTER_NODES!, /^(127\.0\.0\.1:\d+,){5}127\.0\.0\.1:\d+$/);
    await client.set('drill', 'kept');
    const primary = await cluster.masterOf('drill');
    // The replica must have it before the kill, or the assertion below tests replication lag: on a
    // loaded machine one WAIT of 2 s may come back 0, so until one comes back 1.
    const primaryClient = cluster.nodeClient(primary);
    await waitUntil(async () => (await primaryClient.wait(1, 2000)) >= 1, 30_000, () => 'the replica never acknowledged the write');
    await cluster.kill(primary);
    await cluster.waitHealthy();
    assert.notEqual((await cluster.masterOf('drill')).address, primary.address);
    assert.equal(await client.get('drill'), 'kept');
    await cluster.restartAsReplica(primary);
    await cluster.waitHealthy();
    assert.equal((await cluster.masters()).length, 3);
    assert.ok((await cluster.replicas()).some((node) => node.address === primary.address), 'the restarted node is a replica now');
  });
});

describe('a Redis Cluster that is not there', { skip: skipWithoutRedisCluster('the Redis Cluster backend suite') }, () => {
  test('every operation is refused at once with BackendUnavailableError; start-up does not hang', async () => {
    const ports = [await freePort(), await freePort()];
    const store = await openRedisStore(
      { url: undefined, host: '127.0.0.1', port: 6379, password: undefined, mainDb: 0, authDb: 0, keyPrefix: '', clusterNodes: ports.map((port) => ({ host: '127.0.0.1', port })) },
      pino({ level: 'silent' }),
    );
    try {
      const r = record();
      await assertEachRefusedBefore(
        {
          'sessions.get': () => store.sessions.get(`${USER}d1`),
          'messages.putIfAbsent': () => store.messages.putIfAbsent(r, 0),
          'messages.list': () => store.messages.list(10),
          'log.head': () => store.consumer.log.head(),
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
