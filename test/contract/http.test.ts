/**
 * One contract over HTTP, every combination SPEC §8 allows (store × directory: SQLite or Redis ×
 * SQLite or MySQL), and Redis Cluster and Sentinel (SPEC §13) with MySQL: the real server process gives the same answers, stores the same records
 * byte for byte, passes the same vectors (envelopes.json, devices.json) and keeps SPEC §4 and
 * §6 under concurrency, whatever backends it runs on. The suite itself is http-suite.ts.
 */
import { after } from 'node:test';
import { skipWithoutMariadb, startMariadbServer, type MariadbServer } from '../helpers/mariadb-server.js';
import { skipIfAny } from '../helpers/real-backends.js';
import { skipWithoutRedisCluster, startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js';
import { skipWithoutRedis, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { skipWithoutSentinel, startSentinelSet, type SentinelSet } from '../helpers/redis-sentinel.js';
import { startServerProcess } from '../helpers/server-process.js';
import { describeHttpContract } from './http-suite.js';
import {
  mysqlDirectoryTarget,
  redisClusterStoreTarget,
  redisStoreTarget,
  sentinelStoreTarget,
  sqliteDirectoryTarget,
  sqliteStoreTarget,
  type DirectoryTarget,
  type StoreTarget,
} from './targets.js';

const redisSkip = skipWithoutRedis('HTTP contract on Redis (test/contract/http.test.ts)');
const mariadbSkip = skipWithoutMariadb('HTTP contract on MariaDB (test/contract/http.test.ts)');
const clusterSkip = skipWithoutRedisCluster('HTTP contract on Redis Cluster (test/contract/http.test.ts)');
const sentinelSkip = skipWithoutSentinel('HTTP contract on Redis Sentinel (test/contract/http.test.ts)');
let redisServer: Promise<RedisServer> | undefined;
let redisCluster: Promise<RedisCluster> | undefined;
let sentinelSet: Promise<SentinelSet> | undefined;
let mariadbServer: Promise<MariadbServer> | undefined;
after(async () => {
  await (await redisServer)?.close();
  await (await redisCluster)?.close();
  await (await sentinelSet)?.close();
  await (await mariadbServer)?.close();
});

async function openStore(kind: 'sqlite' | 'redis' | 'redis-cluster' | 'sentinel', dataDir: string): Promise<StoreTarget> {
  if (kind === 'sqlite') return sqliteStoreTarget(dataDir);
  if (kind === 'redis-cluster') return redisClusterStoreTarget(await (redisCluster ??= startRedisCluster()), 'sms:');
  if (kind === 'sentinel') return sentinelStoreTarget(await (sentinelSet ??= startSentinelSet()), 'sms:');
  // A prefix, so the server's REDIS_KEY_PREFIX is proven end to end too.
  return redisStoreTarget(await (redisServer ??= startRedisServer()), 'sms:');
}

async function openDirectory(kind: 'sqlite' | 'mysql', dataDir: string): Promise<DirectoryTarget> {
  if (kind === 'sqlite') return sqliteDirectoryTarget(dataDir);
  const server = await (mariadbServer ??= startMariadbServer());
  await server.reset();
  return mysqlDirectoryTarget(server);
}

const combinations = [
  { store: 'sqlite', directory: 'sqlite' },
  { store: 'redis', directory: 'sqlite' },
  { store: 'sqlite', directory: 'mysql' },
  { store: 'redis', directory: 'mysql' },
  { store: 'redis-cluster', directory: 'mysql' },
  // SPEC §13: the production pair with the primary found through Redis Sentinel.
  { store: 'sentinel', directory: 'mysql' },
] as const;

for (const combination of combinations) {
  const production = combination.store !== 'sqlite' && combination.directory === 'mysql';
  describeHttpContract({
    title: `HTTP contract: store ${combination.store}, directory ${combination.directory}`,
    skip: skipIfAny(
      combination.store === 'redis' && redisSkip,
      combination.store === 'redis-cluster' && clusterSkip,
      combination.store === 'sentinel' && sentinelSkip,
      combination.directory === 'mysql' && mariadbSkip,
    ),
    // A cluster and Sentinel are the Redis backend still: its /readyz name; a cluster's start-up line says "redis cluster".
    store: combination.store === 'redis-cluster' || combination.store === 'sentinel' ? 'redis' : combination.store,
    ...(combination.store === 'redis-cluster' ? { storeLogged: 'redis cluster' } : {}),
    directory: combination.directory,
    openStore: (dataDir) => openStore(combination.store, dataDir),
    openDirectory: (dataDir) => openDirectory(combination.directory, dataDir),
    deploy: async (env) => {
      // The production pairs run as production does, several processes on one port, so the
      // races are between processes and only Redis and MySQL can settle them.
      const server = await startServerProcess({ ...env, ...(production ? { WORKERS: '2' } : {}) });
      return { url: server.url, servers: [server], stop: async () => void (await server.stop()) };
    },
    concurrency: production,
  });
}
