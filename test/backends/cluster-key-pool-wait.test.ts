/**
 * SPEC §13 REDIS_WAIT_REPLICAS and the durable key pool on a real Redis Cluster (3 primaries, 3
 * replicas): a new session's public key is answered only once a replica holds the pool's LPOP
 * too, on the pool list's own master (not only the session's). With that master's replica
 * stopped, an auth whose session lives on another, healthy master is a 503 with Retry-After; no
 * session is written, the popped pair is never stored in a record nor answered, and the retry
 * once the replica is back is a new auth with another pair (docs/SECURITY.md "The durable key pool").
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { RedisKeys } from '../../src/backends/redis/keys.js';
import { Message } from '../../src/protocol/answers.js';
import { startConsumerFixture, type ConsumerFixture } from '../helpers/consumer.js';
import { clientKey } from '../helpers/embedded.js';
import { postForm } from '../helpers/http.js';
import { waitUntil } from '../helpers/real-backends.js';
import { skipWithoutRedisCluster, type ClusterNode } from '../helpers/redis-cluster.js';

const WAIT_TIMEOUT_MS = 500;
const POOL_SIZE = 3;
/** Generous: the 503 must come after about the WAIT timeout, never after a hang. */
const ANSWER_BOUND_MS = 8000;
const keys = new RedisKeys('', 'cluster');
/** SESSION_KEY_BITS' default. */
const POOL = keys.keyPool(2048);

function waitCalls(info: string): number {
  return Number(/cmdstat_wait:calls=(\d+)/.exec(info)?.[1] ?? 0);
}

describe('REDIS_WAIT_REPLICAS=1 on a Redis Cluster: the key pool pop is replicated before the key is answered', { skip: skipWithoutRedisCluster('the cluster key pool WAIT suite') }, () => {
  let fx: ConsumerFixture;
  let poolMaster: ClusterNode;
  let poolReplica: ClusterNode;
  let onPoolMaster: Redis;
  /** Devices whose session lives on another master than the pool's list. */
  let elsewhere: string[];

  const poolFull = (): Promise<void> =>
    waitUntil(async () => (await onPoolMaster.llen(POOL)) >= POOL_SIZE, 60_000, () => 'the key pool did not fill');

  before(async () => {
    fx = await startConsumerFixture({
      store: 'redis-cluster',
      devices: 12,
      env: { REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: String(WAIT_TIMEOUT_MS), KEY_POOL_SIZE: String(POOL_SIZE) },
    });
    const cluster = fx.cluster!;
    poolMaster = await cluster.masterOf(POOL);
    onPoolMaster = cluster.nodeClient(poolMaster);
    const replicaPort = Number(/slave0:ip=[^,]+,port=(\d+)/.exec(await onPoolMaster.info('replication'))?.[1]);
    const replica = cluster.nodes.find((node) => node.port === replicaPort);
    assert.ok(replica, `the pool master ${poolMaster.address} has a replica`);
    poolReplica = replica;
    elsewhere = [];
    for (const id of fx.deviceIds) if ((await cluster.masterOf(keys.session(clientKey(id)))).address !== poolMaster.address) elsewhere.push(id);
    assert.ok(elsewhere.length >= 2, 'some sessions live on another master');
    await poolFull();
    // Every WAIT of an auth (the pool's master and the session's) must be answerable.
    await cluster.waitReplicasInSync();
    await waitUntil(async () => (await onPoolMaster.wait(1, 1000)) >= 1, 30_000, () => 'the pool replica did not catch up');
  });
  after(async () => {
    poolReplica?.resume();
    await fx?.close();
  });

  test('with the replica up: an auth from the pool waits on the pool master (a WAIT there), and the key is answered', async () => {
    const device = elsewhere[0]!;
    const head = await onPoolMaster.lindex(POOL, 0);
    assert.ok(head !== null);
    await onPoolMaster.config('RESETSTAT');
    const reply = await postForm(fx.server.url, { key: clientKey(device), status: 'on' });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.body.code, 0, reply.text);
    assert.equal(reply.body.message, (JSON.parse(head) as { public_key: string }).public_key, 'the pooled pair was the one answered');
    // The session's own WAIT runs on another master; only the pop's can be counted here.
    assert.ok(waitCalls(await onPoolMaster.info('commandstats')) >= 1, 'a WAIT ran on the pool master');
  });

  test("with the pool master's replica stopped: 503 with Retry-After, no session, the popped pair never answered; the retry is a new auth with another pair", async () => {
    const device = elsewhere[1]!;
    await poolFull();
    const head = await onPoolMaster.lindex(POOL, 0);
    assert.ok(head !== null);
    const popped = JSON.parse(head) as { public_key: string; private_key: string };

    poolReplica.pause();
    let refused;
    const started = Date.now();
    try {
      refused = await postForm(fx.server.url, { key: clientKey(device), status: 'on' });
    } finally {
      poolReplica.resume();
    }
    const ms = Date.now() - started;
    assert.equal(refused.status, 503, refused.text);
    assert.equal(refused.body.message, Message.unavailable);
    assert.ok(Number(refused.headers.get('retry-after')) > 0, 'Retry-After');
    assert.ok(ms >= WAIT_TIMEOUT_MS - 50 && ms < ANSWER_BOUND_MS, `answered after ${ms} ms`);
    // The pop was not undone (the filler adds new entries at the tail, never these bytes), and no session was written.
    assert.ok(!(await onPoolMaster.lrange(POOL, 0, -1)).includes(head), 'the popped entry is out of the pool');
    const cluster = fx.cluster!;
    const onSessionMaster = cluster.nodeClient(await cluster.masterOf(keys.session(clientKey(device))));
    assert.equal(await onSessionMaster.get(keys.session(clientKey(device))), null, 'no session was written');

    // Once the replica has caught up, the retry is an ordinary new auth, with another pair.
    await waitUntil(async () => (await onPoolMaster.wait(1, 1000)) >= 1, 30_000, () => 'the pool replica did not catch up');
    const retried = await postForm(fx.server.url, { key: clientKey(device), status: 'on' });
    assert.equal(retried.status, 200, retried.text);
    assert.equal(retried.body.code, 0, retried.text);
    assert.notEqual(retried.body.message, popped.public_key, 'the dropped pair is not handed out');
    const record = JSON.parse((await onSessionMaster.get(keys.session(clientKey(device)))) ?? '{}') as { private_key?: string };
    assert.notEqual(record.private_key, popped.private_key);
    // Nor is it anywhere in the pool, on the master or its replica, to be handed out later.
    const onReplica = cluster.nodeClient(poolReplica);
    await onReplica.call('READONLY');
    for (const client of [onPoolMaster, onReplica]) {
      assert.ok(!(await client.lrange(POOL, 0, -1)).some((entry) => entry.includes(popped.public_key.slice(30, 90))), 'not back in the pool');
    }
  });
});
