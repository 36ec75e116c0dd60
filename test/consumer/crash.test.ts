/**
 * SPEC §9 crash consistency: `kill -9` the server in the middle of a submit load, start it again,
 * and every id that was answered `delivered` has its record and its log entry (both stores; on
 * Redis, redis-server is killed as well and restarted from its append-only file). On a Redis
 * Cluster, where a store is three one-slot steps, the kill may cut a record off from its entry:
 * the repair then gives every stored record its entry and leaves no marker.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Message } from '../../src/protocol/answers.js';
import { RedisKeys } from '../../src/backends/redis/index.js';
import { RedisLogRepair, REPAIR_AFTER_MS } from '../../src/backends/redis/log-repair.js';
import { scanKeys } from '../../src/backends/redis/scan.js';
import { skipWithoutRedisCluster } from '../helpers/redis-cluster.js';
import { skipWithoutRedis } from '../helpers/redis-server.js';
import { readWholeLog, startConsumerFixture, type ConsumerFixture, type StoreKind } from '../helpers/consumer.js';

const DEVICES = 8;
const LANES_PER_DEVICE = 3;
/** Kill once this many submits have been answered `delivered`. */
const KILL_AFTER = 150;

const skips: Record<StoreKind, string | false> = {
  sqlite: false,
  redis: skipWithoutRedis('the Redis crash suite'),
  'redis-cluster': skipWithoutRedisCluster('the Redis Cluster crash suite'),
};

for (const store of ['sqlite', 'redis', 'redis-cluster'] as StoreKind[]) {
  describe(`kill -9 during a submit load on ${store}`, { skip: skips[store] }, () => {
    let fx: ConsumerFixture;
    before(async () => {
      fx = await startConsumerFixture({ store, devices: DEVICES, persistentRedis: true });
    });
    after(async () => fx?.close());

    test('every id answered delivered is in the log after a restart', async () => {
      for (const id of fx.deviceIds) await fx.publicKey(id);
      const delivered = new Set<string>();
      let killed = false;
      let counter = 0;
      const lane = async (deviceId: string): Promise<void> => {
        while (!killed) {
          const n = counter++;
          try {
            const reply = await fx.submit(deviceId, `load ${n}`, n);
            if (reply.message === Message.delivered) delivered.add(String(reply.id));
          } catch {
            return; // the connection died with the server
          }
          if (delivered.size >= KILL_AFTER && !killed) {
            killed = true;
            fx.server.child.kill('SIGKILL');
          }
        }
      };
      await Promise.all(fx.deviceIds.flatMap((id) => Array.from({ length: LANES_PER_DEVICE }, () => lane(id))));
      assert.ok(killed, 'the server was killed mid-load');
      assert.ok(delivered.size >= KILL_AFTER);

      if (fx.redis !== undefined) {
        // Redis too, killed and started again from its append-only file: the record and its entry
        // were one script, so they are in that file together or not at all.
        await fx.redis.stop('SIGKILL');
        await fx.redis.start();
      }
      await fx.restart();
      const logged = new Set((await readWholeLog(fx, 1000)).map((entry) => String(entry.record.id)));
      const missing = [...delivered].filter((id) => !logged.has(id));
      assert.deepEqual(missing, [], `${missing.length} of ${delivered.size} delivered ids are not in the log`);
      for (const id of delivered) {
        const reply = await fx.api(`/v1/messages/${id}`);
        assert.equal(reply.status, 200, `record ${id} after the restart`);
      }

      if (fx.cluster !== undefined) {
        // The repair pass of a minute later (markers this young are left to their requests).
        const keys = new RedisKeys('', 'cluster');
        const client = fx.cluster.client();
        await client.ping();
        await new RedisLogRepair(client, keys).run(Date.now() + REPAIR_AFTER_MS);
        const inLog = new Set(await client.zrange(keys.logEntries, '0', '-1'));
        const stored = (await scanKeys(client, keys.messagePattern)).map((key) => keys.idOfMessageKey(key));
        assert.ok(stored.length >= delivered.size);
        assert.deepEqual(stored.filter((id) => !inLog.has(id)), [], 'every stored record has its entry');
        assert.deepEqual(await scanKeys(client, keys.unloggedPattern), [], 'no marker is left');
      }
    });
  });
}
