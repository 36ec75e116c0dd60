/**
 * The Redis high-availability settings of SPEC §13 that issue 13's "failover" part adds:
 * Sentinel (REDIS_SENTINELS, REDIS_SENTINEL_NAME, REDIS_SENTINEL_PASSWORD) and replicated
 * acknowledgements (REDIS_WAIT_REPLICAS, REDIS_WAIT_TIMEOUT_MS). Read by readConfig into
 * RedisConfig; documented in docs/CONFIGURATION.md and docs/SCALING.md "Redis Sentinel and replicated acknowledgements".
 */
import { ConfigError, type Reader } from './config.js';

/** The settings that, like every other Redis setting, switch the store to Redis (SPEC §8). */
export const REDIS_FAILOVER_SETTINGS = ['REDIS_SENTINELS', 'REDIS_SENTINEL_NAME'] as const;

export interface SentinelAddress {
  host: string;
  port: number;
}

export interface SentinelConfig {
  /** REDIS_SENTINELS: any of them is asked where the primary is. */
  sentinels: SentinelAddress[];
  /** REDIS_SENTINEL_NAME: the master name the sentinels monitor (`sentinel monitor <name> …`). */
  name: string;
  /** REDIS_SENTINEL_PASSWORD: the sentinels' own requirepass, when they have one (REDIS_PASSWORD is the data nodes'). */
  password: string | undefined;
}

export interface ReplicationWaitConfig {
  /** REDIS_WAIT_REPLICAS: 0 = answer as soon as the primary has the write (SPEC §7 behaviour). */
  replicas: number;
  /** REDIS_WAIT_TIMEOUT_MS: how long `WAIT` may take before the answer is 503. */
  timeoutMs: number;
}

export const DEFAULT_WAIT_TIMEOUT_MS = 1000;
/** A WAIT blocks its connection; more than this would hold every other command on it too long. */
export const MAX_WAIT_TIMEOUT_MS = 10_000;
/** Replicas a primary can plausibly have; a larger number could never be reached. */
const MAX_WAIT_REPLICAS = 64;

/** `host:port`, an IPv6 host in brackets (`[::1]:26379`). */
function parseSentinel(entry: string, value: string): SentinelAddress {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(entry);
  const port = match === null ? NaN : Number(match[3]);
  if (match === null || !(port >= 1 && port <= 65535)) {
    throw new ConfigError('REDIS_SENTINELS', `must be host:port entries separated by commas (got "${value}")`);
  }
  return { host: (match[1] ?? match[2])!, port };
}

export function readSentinelConfig(read: Reader): SentinelConfig | undefined {
  const value = read.raw('REDIS_SENTINELS');
  if (value === undefined) {
    if (read.raw('REDIS_SENTINEL_NAME') !== undefined) throw new ConfigError('REDIS_SENTINEL_NAME', 'is set but REDIS_SENTINELS is not');
    return undefined;
  }
  const entries = value.split(',').map((part) => part.trim()).filter((part) => part !== '');
  if (entries.length === 0) throw new ConfigError('REDIS_SENTINELS', 'names no sentinel');
  if (read.raw('REDIS_URL') !== undefined) {
    // The primary's address comes from the sentinels; a URL naming one would be silently ignored.
    throw new ConfigError('REDIS_URL', 'cannot be used with REDIS_SENTINELS (the sentinels name the primary; REDIS_PASSWORD is its password)');
  }
  return {
    sentinels: entries.map((entry) => parseSentinel(entry, value)),
    name: read.pattern('REDIS_SENTINEL_NAME', read.required('REDIS_SENTINEL_NAME', 'when REDIS_SENTINELS is set'), /^\S{1,255}$/, 'the master name the sentinels monitor'),
    password: read.raw('REDIS_SENTINEL_PASSWORD'),
  };
}

export function readReplicationWaitConfig(read: Reader): ReplicationWaitConfig {
  return {
    replicas: read.integer('REDIS_WAIT_REPLICAS', 0, 0, MAX_WAIT_REPLICAS),
    // 0 would be WAIT's "forever": a request must never hang, so it is not allowed.
    timeoutMs: read.integer('REDIS_WAIT_TIMEOUT_MS', DEFAULT_WAIT_TIMEOUT_MS, 1, MAX_WAIT_TIMEOUT_MS),
  };
}

/** The RedisConfig fields of this module, each only when it changes something (absent = one Redis, no WAIT). */
export function readRedisFailover(read: Reader): { sentinel?: SentinelConfig; wait?: ReplicationWaitConfig } {
  const sentinel = readSentinelConfig(read);
  const wait = readReplicationWaitConfig(read);
  return { ...(sentinel === undefined ? {} : { sentinel }), ...(wait.replicas === 0 ? {} : { wait }) };
}
