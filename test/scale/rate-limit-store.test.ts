/**
 * The shared rate limit's store (src/store/rate-limits.ts) on SQLite, a real Redis and a real
 * 3-primary Redis Cluster: a fixed window per address that starts at its first request, atomic
 * under concurrent hits, and forgotten when the window ends. Then the server with the store gone: fail open, so the request gets the
 * protocol's own 503, never a 500, and counting resumes when the store is back.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { openWriterConnection } from '../../src/backends/sqlite/database.js';
import { SqliteRateLimitStore } from '../../src/backends/sqlite/rate-limits.js';
import { WriteBatcher } from '../../src/backends/sqlite/write-batch.js';
import { openRedisStore } from '../../src/backends/redis/index.js';
import { answers } from '../../src/protocol/answers.js';
import type { RateLimitCounterStore } from '../../src/store/rate-limits.js';
import { postForm, request } from '../helpers/http.js';
import { sleep, waitUntil } from '../helpers/real-backends.js';
import { skipWithoutRedis, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { makeDataDir, startServerProcess, waitForLog, type ServerProcess } from '../helpers/server-process.js';
import { redisClusterConfigFor, redisConfigFor } from '../contract/targets.js';
import { skipWithoutRedisCluster, startRedisCluster } from '../helpers/redis-cluster.js';

const silent = pino({ level: 'silent' });
const redisSkip = skipWithoutRedis('the shared rate limit on Redis (test/scale/rate-limit-store.test.ts)');
const clusterSkip = skipWithoutRedisCluster('the shared rate limit on Redis Cluster (test/scale/rate-limit-store.test.ts)');
let redisServer: Promise<RedisServer> | undefined;
after(async () => (await redisServer)?.close());

interface Target {
  store: RateLimitCounterStore;
  close(): Promise<void>;
}

const targets: Array<{ name: string; skip: string | false; open(): Promise<Target> }> = [
  {
    name: 'sqlite',
    skip: false,
    open: async () => {
      const data = makeDataDir();
      const writer = openWriterConnection(data.dir);
      const writes = new WriteBatcher(writer);
      return {
        store: new SqliteRateLimitStore(writes),
        close: async () => {
          writes.close();
          writer.close();
          data.remove();
        },
      };
    },
  },
  {
    name: 'redis',
    skip: redisSkip,
    open: async () => {
      const opened = await openRedisStore(redisConfigFor(await (redisServer ??= startRedisServer()), 'rl:'), silent);
      return { store: opened.rateLimits, close: () => opened.handle.close() };
    },
  },
  {
    // One key per step, so the counters spread over the masters by address.
    name: 'a redis cluster',
    skip: clusterSkip,
    open: async () => {
      const cluster = await startRedisCluster();
      const opened = await openRedisStore(redisClusterConfigFor(cluster, 'rl:'), silent);
      return {
        store: opened.rateLimits,
        close: async () => {
          await opened.handle.close();
          await cluster.close();
        },
      };
    },
  },
];

for (const target of targets) {
  describe(`rate limit counters on ${target.name}`, { skip: target.skip }, () => {
    let opened: Target;
    before(async () => {
      opened = await target.open();
    });
    after(async () => opened?.close());

    test('counts per address in a window that starts at the first request', async () => {
      const first = await opened.store.hit('203.0.113.1', 60_000);
      assert.equal(first.count, 1);
      assert.ok(first.resetsInMs > 55_000 && first.resetsInMs <= 60_000, String(first.resetsInMs));
      const second = await opened.store.hit('203.0.113.1', 60_000);
      assert.equal(second.count, 2);
      assert.ok(second.resetsInMs <= first.resetsInMs);
      assert.equal((await opened.store.hit('2001:db8::', 60_000)).count, 1, 'another address counts alone');
    });

    test('concurrent hits each get their own count: no two see the same', async () => {
      const counts = (await Promise.all(Array.from({ length: 40 }, () => opened.store.hit('203.0.113.2', 60_000)))).map((hit) => hit.count);
      assert.deepEqual([...counts].sort((x, y) => x - y), Array.from({ length: 40 }, (_, i) => i + 1));
    });

    test('an ended window starts again at one', async () => {
      // Long enough that the second hit, one round trip after the first, is inside it on a loaded machine.
      const windowMs = 1500;
      await opened.store.hit('203.0.113.3', windowMs);
      assert.equal((await opened.store.hit('203.0.113.3', windowMs)).count, 2);
      await sleep(windowMs + 150);
      const fresh = await opened.store.hit('203.0.113.3', windowMs);
      assert.equal(fresh.count, 1);
      assert.ok(fresh.resetsInMs > 0 && fresh.resetsInMs <= windowMs);
    });
  });
}

describe('the server while the rate limit store is down', { skip: redisSkip }, () => {
  let redis: RedisServer;
  let server: ServerProcess;
  let data: { dir: string; remove: () => void };
  before(async () => {
    redis = await (redisServer ??= startRedisServer());
    data = makeDataDir();
    server = await startServerProcess({ DATA_DIR: data.dir, ...redis.env, REDIS_KEY_PREFIX: 'down:', RATE_LIMIT_MAX: '2', RATE_LIMIT_WINDOW_SECONDS: '60' });
  });
  after(async () => {
    await server?.stop();
    data?.remove();
  });

  test('fail open: the request gets §1\'s 503 from the protocol, never a 500; the limit counts again once Redis is back', async () => {
    await redis.stop('SIGKILL');
    try {
      for (let i = 0; i < 3; i++) {
        const reply = await postForm(server.url, { key: 'k', status: 'off' });
        assert.equal(reply.status, 503, reply.text);
        assert.equal(reply.text, JSON.stringify(answers.unavailable().body));
      }
      assert.ok(await waitForLog(server, (line) => line.msg === 'rate limit store unavailable: requests pass uncounted' && line.level === 40));
    } finally {
      await redis.start();
    }
    // The server's connections come back by themselves within their reconnect backoff (at most 2 s,
    // more on a loaded machine).
    await waitUntil(async () => (await request(server.url, '/readyz')).status === 200, 30_000, () => 'not ready again after Redis came back');
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await postForm(server.url, { status: 'off' })).status);
    assert.deepEqual(statuses, [400, 400, 429]);
  });
});
