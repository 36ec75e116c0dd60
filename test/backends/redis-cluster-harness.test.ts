/** test/helpers/redis-cluster.ts itself: six real nodes form a healthy cluster; a killed primary is failed over, and comes back as a node of the cluster. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startRedisCluster, skipWithoutRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js';

describe('the Redis Cluster test harness', { skip: skipWithoutRedisCluster('the Redis Cluster harness test') }, () => {
  let cluster: RedisCluster;
  before(async () => {
    cluster = await startRedisCluster();
  });
  after(async () => {
    await cluster?.close();
  });

  it('starts 3 primaries and 3 replicas serving every slot', async () => {
    assert.equal((await cluster.masters()).length, 3);
    assert.equal((await cluster.replicas()).length, 3);
    assert.match(cluster.env.REDIS_CLUSTER_NODES!, /^(127\.0\.0\.1:\d+,){5}127\.0\.0\.1:\d+$/);
    const client = cluster.client();
    await client.set('a', '1');
    await client.set('b', '2');
    assert.equal(await client.get('a'), '1');
  });

  it('fails a killed primary over to its replica, and takes the node back on restart', async () => {
    const client = cluster.client();
    await client.set('drill', 'kept');
    const primary = await cluster.masterOf('drill');
    await client.wait(1, 2000).catch(() => undefined);
    await cluster.kill(primary);
    await cluster.waitHealthy();
    const promoted = await cluster.masterOf('drill');
    assert.notEqual(promoted.address, primary.address);
    await cluster.restart(primary);
    await cluster.waitHealthy();
    assert.equal((await cluster.masters()).length, 3);
    assert.ok((await cluster.replicas()).some((n) => n.address === primary.address), 'the restarted node rejoins as a replica');
  });
});
