/**
 * Redis connections for SPEC §7: one per database (REDIS_MAIN_DB for messages, REDIS_AUTH_DB
 * for sessions), because a connection's SELECT is its own.
 *
 * Fault behaviour (issue 3): a request must fail fast with 503 while Redis is away, never hang
 * or crash the process, and service must come back by itself. Hence:
 * - no offline queue: a command issued while disconnected is refused at once;
 * - one reconnect's grace for a command already sent, then it fails;
 * - a command timeout, for a Redis that accepts connections but does not answer;
 * - reconnecting forever with a capped backoff;
 * - a lazy connection whose first failure is logged, not thrown, so start-up never depends on Redis.
 */
import { Redis, type Cluster, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { ConfigError, type RedisConfig } from '../../config/config.js';
import { openClusterConnections } from './cluster-connection.js';

/**
 * What every Redis store talks to: one Redis (or Sentinel's primary) per database, or the one
 * Cluster client of REDIS_CLUSTER_NODES. Both have the same commands; what differs (SCAN and
 * PING reach one node, WAIT the connection that wrote) goes through masters() and masterFor().
 */
export type RedisClient = Redis | Cluster;

/** Which connection of one Redis: messages (REDIS_MAIN_DB) or sessions (REDIS_AUTH_DB). On a cluster both are the one client. */
export type RedisRole = 'messages' | 'sessions';

/** One connection attempt, and one command, may take this long before the request gets its 503. */
export const REDIS_CONNECT_TIMEOUT_MS = 2000;
export const REDIS_COMMAND_TIMEOUT_MS = 2000;
const RECONNECT_STEP_MS = 100;
const RECONNECT_MAX_DELAY_MS = 2000;

/** Where Redis is, without the password: what the start-up log may show. */
export interface RedisAddress {
  options: RedisOptions;
  shown: string;
}

/**
 * REDIS_URL when given (its host, port, user, password and TLS; a database in its path is
 * ignored, since REDIS_MAIN_DB and REDIS_AUTH_DB name the two databases), else REDIS_HOST,
 * REDIS_PORT and REDIS_PASSWORD.
 */
export function addressOf(config: RedisConfig): RedisAddress {
  if (config.url === undefined) {
    return {
      options: { host: config.host, port: config.port, password: config.password },
      shown: `${config.host}:${config.port}`,
    };
  }
  let url: URL;
  try {
    url = new URL(config.url);
  } catch {
    throw new ConfigError('REDIS_URL', 'is not a URL');
  }
  // ioredis would let a database in the URL's path win over `db`, so the URL is taken apart here.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = url.port === '' ? 6379 : Number(url.port);
  const tls = url.protocol === 'rediss:';
  return {
    options: {
      host,
      port,
      username: url.username === '' ? undefined : decodeURIComponent(url.username),
      password: url.password === '' ? undefined : decodeURIComponent(url.password),
      tls: tls ? { servername: host } : undefined,
    },
    shown: `${url.protocol}//${url.host}`,
  };
}

/** Reconnection delay: grows by a step per failed attempt, never stops trying. */
export function reconnectDelay(attempt: number): number {
  return Math.min(attempt * RECONNECT_STEP_MS, RECONNECT_MAX_DELAY_MS);
}

export interface RedisConnections {
  messages: RedisClient;
  sessions: RedisClient;
  /** REDIS_CLUSTER_NODES: keys.ts's cluster layout and the one-slot scripts apply. */
  cluster: boolean;
  /**
   * The connection to the master that owns `key` now: the one a write to it went out on, so
   * the one a WAIT for that write must use. On one Redis, the role's connection. Throws while
   * a cluster's slot map is not loaded or the owner has no connection (the caller's 503).
   */
  masterFor(role: RedisRole, key: string): Redis;
  /**
   * Every master's connection, for what must see all keys (SCAN) or every node (PING). On one
   * Redis, the role's connection. Throws unless the masters together own every slot, so a
   * listing never silently misses a shard.
   */
  masters(role: RedisRole): Redis[];
  /** For the start-up log: address and databases, never the password. */
  description: string;
  /** Resolves once both connections have made their first attempt, successful or not. */
  firstAttempt: Promise<void>;
  close(): Promise<void>;
}

function connect(address: RedisAddress, db: number, role: string, log: Logger): Redis {
  const client = new Redis({
    ...address.options,
    db,
    connectionName: `secure-message-server:${role}`,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: REDIS_CONNECT_TIMEOUT_MS,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    retryStrategy: reconnectDelay,
    // Commands issued in one event-loop turn (many concurrent submits) go out in one write;
    // each is still its own single-key command, so this stays Cluster-compatible.
    enableAutoPipelining: true,
  });
  // One log line per outage and one per recovery, not one per reconnect attempt.
  let down = false;
  let lastError: string | undefined;
  client.on('error', (error: Error) => {
    lastError = error.message;
  });
  client.on('reconnecting', () => {
    if (down) return;
    down = true;
    log.warn({ backend: 'redis', db, role, reason: lastError }, 'redis unreachable: requests that need it get 503 until it returns');
  });
  client.on('ready', () => {
    if (!down) return;
    down = false;
    log.info({ backend: 'redis', db, role }, 'redis reachable again');
  });
  return client;
}

export function openRedisConnections(config: RedisConfig, log: Logger): RedisConnections {
  if (config.clusterNodes !== undefined) return openClusterConnections(config, config.clusterNodes, log);
  const address = addressOf(config);
  const messages = connect(address, config.mainDb, 'messages', log);
  const sessions = connect(address, config.authDb, 'sessions', log);
  const prefix = config.keyPrefix === '' ? '' : `, key prefix ${JSON.stringify(config.keyPrefix)}`;
  const byRole = (role: RedisRole): Redis => (role === 'messages' ? messages : sessions);
  return {
    messages,
    sessions,
    cluster: false,
    masterFor: (role) => byRole(role),
    masters: (role) => [byRole(role)],
    description: `redis ${address.shown} (messages db ${config.mainDb}, sessions db ${config.authDb}${prefix})`,
    // A failed first attempt is already logged and retried by the client itself.
    firstAttempt: Promise.allSettled([messages.connect(), sessions.connect()]).then(() => undefined),
    async close() {
      await Promise.allSettled([messages.quit(), sessions.quit()]);
      // quit() is refused while disconnected; disconnect() also stops the reconnect timer.
      messages.disconnect();
      sessions.disconnect();
    },
  };
}
