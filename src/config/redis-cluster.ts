/**
 * REDIS_CLUSTER_NODES (SPEC §13): the seed nodes of a Redis Cluster, `host:port,…`. Any one that
 * answers is enough for the client to learn the whole cluster (CLUSTER SLOTS); listing several
 * lets the server start while one of them is down.
 *
 * What it cannot be combined with, each a one-line configuration error naming the variable:
 * - REDIS_HOST / REDIS_PORT: a second, different address of Redis;
 * - REDIS_URL naming a host:port that is not one of the nodes: the same. A REDIS_URL whose
 *   host:port is one of them is taken for its user, password and TLS (`rediss://`), which then
 *   apply to every node (REDIS_PASSWORD does too, when there is no REDIS_URL);
 * - REDIS_MAIN_DB / REDIS_AUTH_DB: a cluster has database 0 only (keys.ts keeps the kinds apart
 *   by prefixes instead);
 * - REDIS_SENTINELS: Sentinel fails over one primary; a cluster fails over by itself.
 * And REDIS_KEY_PREFIX may not hold `{` or `}` on a cluster: a hash tag in the prefix would put
 * every key in one slot, on one master (src/backends/redis/keys.ts).
 */
import { ConfigError, type Reader } from './config.js';

export interface ClusterNodeAddress {
  host: string;
  port: number;
}

const VARIABLE = 'REDIS_CLUSTER_NODES';
const NOT_WITH_CLUSTER = ['REDIS_HOST', 'REDIS_PORT', 'REDIS_MAIN_DB', 'REDIS_AUTH_DB', 'REDIS_SENTINELS'] as const;

/** `host:port`, `[v6]:port`: the host as ioredis wants it (no brackets). */
function parseNode(text: string): ClusterNodeAddress {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (match === null || !(port >= 1 && port <= 65535)) {
    throw new ConfigError(VARIABLE, `"${text}" is not host:port (for example 10.0.0.5:6379,10.0.0.6:6379)`);
  }
  return { host: match[1] ?? match[2]!, port };
}

/** undefined when REDIS_CLUSTER_NODES is unset; throws ConfigError on a bad list or a conflicting setting. */
export function readRedisClusterNodes(read: Reader): ClusterNodeAddress[] | undefined {
  const value = read.raw(VARIABLE);
  if (value === undefined) return undefined;
  const nodes = value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map(parseNode);
  if (nodes.length === 0) throw new ConfigError(VARIABLE, 'names no node');
  for (const name of NOT_WITH_CLUSTER) {
    if (read.raw(name) !== undefined) {
      throw new ConfigError(name, `cannot be combined with ${VARIABLE} (${name === 'REDIS_MAIN_DB' || name === 'REDIS_AUTH_DB' ? 'a cluster has database 0 only' : 'it names another Redis'})`);
    }
  }
  if (/[{}]/.test(read.string('REDIS_KEY_PREFIX', ''))) {
    throw new ConfigError('REDIS_KEY_PREFIX', `may not contain { or } with ${VARIABLE}: a hash tag in it would put every key on one master`);
  }
  const url = read.raw('REDIS_URL');
  if (url !== undefined) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    const host = parsed?.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = parsed === undefined || parsed.port === '' ? 6379 : Number(parsed.port);
    if (!nodes.some((node) => node.host === host && node.port === port)) {
      // Only host:port is shown: the URL may hold the password.
      throw new ConfigError(
        'REDIS_URL',
        `names ${host ?? 'no'}:${port}, which is not in ${VARIABLE}; with a cluster, REDIS_URL may only name one of its nodes (for the user, password and TLS of all of them)`,
      );
    }
  }
  return nodes;
}

/** `{ clusterNodes }` when REDIS_CLUSTER_NODES is set, else nothing (RedisConfig's field stays absent). */
export function optionalClusterNodes(read: Reader): { clusterNodes?: ClusterNodeAddress[] } {
  const clusterNodes = readRedisClusterNodes(read);
  return clusterNodes === undefined ? {} : { clusterNodes };
}
