/**
 * REDIS_CLUSTER_NODES (SPEC §13): one ioredis Cluster client for both roles (a cluster has
 * database 0 only; keys.ts keeps messages and sessions apart by prefixes instead).
 *
 * The fail-fast behaviour of connection.ts, and the Cluster client's own pitfalls, each decided
 * here (docs/SCALING.md "Redis Cluster" says the same for operators):
 * - "Cluster isn't ready": until the first CLUSTER SLOTS answer arrives there is no slot map;
 *   with no offline queue every command fails at once (a 503), never waits unbounded. Start-up
 *   waits for the first attempt, as with one Redis.
 * - Auto-pipelining is OFF on a cluster. ioredis groups auto-pipelined commands by the nodes of
 *   their slot and sends each group as one pipeline; when a slot migrates (resharding) or fails
 *   over, a cluster pipeline is redirected only if every failed command failed the same way and
 *   every other command was read-only (ioredis Pipeline.js). A group holding a write that
 *   succeeded and a command that got MOVED/ASK fails that command with the raw redirection
 *   instead of following it. Sent one by one, every command follows MOVED/ASK by itself.
 * - MOVED/ASK/TRYAGAIN/CLUSTERDOWN and a node's lost connection are retried by the client
 *   (retryDelayOn*, at most MAX_REDIRECTIONS times), a bounded wait of about a second and a
 *   half, inside the command timeout: a failover gap is a 503, never a hang.
 * - Reads go to masters only (scaleReads 'master'): a replica may lag, and a device's retry
 *   must see the record it just stored (SPEC §6 `duplicate`).
 * - Reconnecting forever (clusterRetryStrategy never gives up), with connection.ts's backoff.
 * - natMap: not set. The nodes announce the addresses clients reach them by (loopback, or a
 *   private network); behind NAT or in Docker with published ports set cluster-announce-ip.
 */
import { Cluster, type ClusterOptions, type Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { ClusterNodeAddress } from '../../config/redis-cluster.js';
import type { RedisConfig } from '../../config/config.js';
import {
  addressOf,
  reconnectDelay,
  REDIS_COMMAND_TIMEOUT_MS,
  REDIS_CONNECT_TIMEOUT_MS,
  type RedisClient,
  type RedisConnections,
} from './connection.js';
import { CLUSTER_SLOTS, keySlot } from './key-slot.js';
import { replicationWaitAllowanceMs } from './replication-wait.js';

/** Redirections (MOVED/ASK) and retries (TRYAGAIN, CLUSTERDOWN, a lost node) per command. */
const MAX_REDIRECTIONS = 8;
const RETRY_DELAY_MS = 200;

/** A node's name as the slot map writes it. */
function nodeKey(node: Redis): string {
  return `${node.options.host}:${node.options.port}`;
}

export function clusterOptions(config: RedisConfig): ClusterOptions {
  // REDIS_URL (one of the nodes, config/redis-cluster.ts) for user, password and TLS; else REDIS_PASSWORD.
  const credentials = config.url === undefined ? { password: config.password } : addressOf(config).options;
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    enableAutoPipelining: false,
    scaleReads: 'master',
    clusterRetryStrategy: reconnectDelay,
    maxRedirections: MAX_REDIRECTIONS,
    retryDelayOnFailover: RETRY_DELAY_MS,
    retryDelayOnClusterDown: RETRY_DELAY_MS,
    retryDelayOnTryAgain: RETRY_DELAY_MS,
    slotsRefreshTimeout: REDIS_CONNECT_TIMEOUT_MS,
    redisOptions: {
      username: credentials.username,
      password: credentials.password,
      // TLS without the URL host's servername: each node is checked under its own name.
      tls: credentials.tls === undefined ? undefined : {},
      connectionName: 'secure-message-server:cluster',
      connectTimeout: REDIS_CONNECT_TIMEOUT_MS,
      // A command may queue behind a WAIT on its node's connection (replication-wait.ts).
      commandTimeout: REDIS_COMMAND_TIMEOUT_MS + replicationWaitAllowanceMs(config.wait),
      maxRetriesPerRequest: 1,
    },
  };
}

/** The master owning each slot now, by the client's slot map; throws when a slot has none. */
function masterKeys(cluster: Cluster): Set<string> {
  const owners = new Set<string>();
  for (let slot = 0; slot < CLUSTER_SLOTS; slot++) {
    const owner = cluster.slots[slot]?.[0];
    if (owner === undefined) throw new Error(`redis cluster: slot ${slot} has no master (cluster not ready or down)`);
    owners.add(owner);
  }
  return owners;
}

function connectionOf(cluster: Cluster, key: string): Redis {
  const node = cluster.nodes('master').find((candidate) => nodeKey(candidate) === key);
  if (node === undefined) throw new Error(`redis cluster: no connection to master ${key}`);
  return node;
}

/**
 * The connection to the master that owns `key` now (the one a write to it went out on, so the
 * one a WAIT for it must use); a single Redis is its own. Throws while the slot map is not
 * loaded or the owner has no connection: the caller's 503.
 */
export function masterFor(client: RedisClient, key: string): Redis {
  if (!(client instanceof Cluster)) return client;
  const owner = client.slots[keySlot(key)]?.[0];
  if (owner === undefined) throw new Error('redis cluster: slot map not loaded');
  return connectionOf(client, owner);
}

/**
 * Every master's connection (SCAN, PING); a single Redis is its own. Throws unless the masters
 * together own every slot, so a listing never silently misses a shard.
 */
export function mastersOf(client: RedisClient): Redis[] {
  if (!(client instanceof Cluster)) return [client];
  return [...masterKeys(client)].map((key) => connectionOf(client, key));
}

export function openClusterConnections(config: RedisConfig, nodes: readonly ClusterNodeAddress[], log: Logger): RedisConnections {
  const cluster = new Cluster(
    nodes.map((node) => ({ host: node.host, port: node.port })),
    clusterOptions(config),
  );
  // One log line per node outage and one per return, not one per reconnect attempt.
  let started = false;
  let closing = false;
  let lastError: string | undefined;
  cluster.on('error', (error: Error) => {
    lastError = error.message;
  });
  cluster.on('node error', (error: Error, address: string) => {
    lastError = `${address}: ${error.message}`;
  });
  cluster.on('-node', (node: Redis) => {
    if (closing) return;
    log.warn({ backend: 'redis', node: nodeKey(node), reason: lastError }, 'redis cluster node unreachable: requests for its slots get 503 until it or its replica answers');
  });
  cluster.on('+node', (node: Redis) => {
    if (started) log.info({ backend: 'redis', node: nodeKey(node) }, 'redis cluster node reachable');
  });
  cluster.on('ready', () => {
    started = true;
  });
  const prefix = config.keyPrefix === '' ? '' : `, key prefix ${JSON.stringify(config.keyPrefix)}`;
  return {
    messages: cluster,
    sessions: cluster,
    cluster: true,
    masterFor: (_role, key) => masterFor(cluster, key),
    masters: () => mastersOf(cluster),
    description: `redis cluster ${nodes.map((node) => `${node.host}:${node.port}`).join(',')} (database 0${prefix})`,
    firstAttempt: cluster.connect().then(
      () => undefined,
      (error: Error) => {
        log.warn({ backend: 'redis', reason: error.message }, 'redis cluster unreachable: requests that need it get 503 until it answers');
      },
    ),
    async close() {
      closing = true;
      await cluster.quit().catch(() => undefined);
      cluster.disconnect();
    },
  };
}
