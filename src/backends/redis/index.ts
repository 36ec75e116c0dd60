/**
 * Opens the Redis store (SPEC §7): two connections (or one Cluster client, SPEC §13), the key
 * layout, and the backend handle.
 */
import type { Logger } from 'pino';
import { DEFAULT_SESSION_TTL_SECONDS, type RedisConfig } from '../../config/config.js';
import type { ConsumerStores } from '../../store/message-log.js';
import type { BackendHandle, TtlSeconds } from '../../store/store.js';
import { orUnavailable } from '../unavailable.js';
import { DEFAULT_WAIT_TIMEOUT_MS } from '../../config/redis-failover.js';
import { openRedisConnections, type RedisConnections } from './connection.js';
import { RedisFailureCounterStore, RedisSessionRecheckStore } from './credentials.js';
import { RedisAcceptedMessageStore } from './accepted-message.js';
import { RedisInstallationSecrets } from './installation-secrets.js';
import { RedisRateLimitStore } from './rate-limits.js';
import { RedisKeyPoolStore } from './key-pool.js';
import { RedisKeys } from './keys.js';
import { RedisLogRepair, SeenLogHead } from './log-repair.js';
import { RedisSessionGuardStore } from './session-guard.js';
import { RedisSessionRewriter } from './session-rewrite.js';
import { redisConsumerStores, RedisLoggedMessageStore } from './message-log.js';
import { RedisMessageStore, RedisSessionStore } from './store.js';
import { NO_REPLICATION_WAIT, ReplicationWait } from './replication-wait.js';

export { RedisKeys } from './keys.js';
export { RedisMessageStore, RedisSessionStore } from './store.js';

export interface RedisStore {
  sessions: RedisSessionStore;
  messages: RedisMessageStore;
  /** SPEC §10, in REDIS_MAIN_DB (keys.ts says why). */
  failures: RedisFailureCounterStore;
  rechecks: RedisSessionRecheckStore;
  /** SPEC §13: the /api rate limit's counters, in REDIS_MAIN_DB (keys.rateLimit). */
  rateLimits: RedisRateLimitStore;
  /** Issue 10: per-session hardening state, the installation's secrets, rewriting records. */
  guard: RedisSessionGuardStore;
  /** Issue 15: an accepted submit's session side in one script (accepted-message.ts). */
  accepted: RedisAcceptedMessageStore;
  installationSecrets: RedisInstallationSecrets;
  sessionRewriter: RedisSessionRewriter;
  /** Issue 15: the shared key pool, in REDIS_AUTH_DB. */
  keyPool: RedisKeyPoolStore;
  /** SPEC §9: the log, bookmarks and webhook state. */
  consumer: ConsumerStores;
  handle: BackendHandle;
  description: string;
  /** The clients themselves, for what needs a key's master (WAIT) or every master: masterFor(), masters(). */
  connections: RedisConnections;
}

/** Never throws for an unreachable Redis: that is logged, and requests get 503 until it answers. */
export async function openRedisStore(
  config: RedisConfig,
  log: Logger,
  /** SPEC §9: ids a consumer deleted are remembered as long as their session (default: DEFAULT_SESSION_TTL_SECONDS, config.ts). */
  options: { sessionTtlSeconds?: TtlSeconds } = {},
): Promise<RedisStore> {
  const connections = openRedisConnections(config, log);
  const keys = new RedisKeys(config.keyPrefix, connections.cluster ? 'cluster' : 'single');
  // SPEC §13: WAIT runs on the connection each write went out on (on a cluster, the owning master's).
  const waitConfig = config.wait ?? { replicas: 0, timeoutMs: DEFAULT_WAIT_TIMEOUT_MS };
  const sessionsWait = new ReplicationWait(waitConfig, { connectionFor: (key) => connections.masterFor('sessions', key) });
  const messagesWait = new ReplicationWait(waitConfig, { connectionFor: (key) => connections.masterFor('messages', key) });
  // Waiting for the first attempt lets a healthy start be ready the moment the server listens.
  await connections.firstAttempt;
  // Cluster: a store split into one-slot steps is finished here before anything is answered (log-repair.ts).
  // The log head this process has seen: the repair keeps it fresh, the store's markers carry it.
  const seenLogHead = new SeenLogHead();
  const repair = connections.cluster ? await new RedisLogRepair(connections.messages, keys, seenLogHead).start(log) : undefined;
  const guard = new RedisSessionGuardStore(connections.sessions, keys);
  const messages = new RedisLoggedMessageStore(connections.messages, keys, options.sessionTtlSeconds ?? DEFAULT_SESSION_TTL_SECONDS, messagesWait, seenLogHead);
  return {
    sessions: new RedisSessionStore(connections.sessions, keys, sessionsWait),
    failures: new RedisFailureCounterStore(connections.messages, keys),
    rechecks: new RedisSessionRecheckStore(connections.messages, keys),
    rateLimits: new RedisRateLimitStore(connections.messages, keys),
    guard,
    accepted: new RedisAcceptedMessageStore(connections.sessions, keys, messages, guard, log),
    installationSecrets: new RedisInstallationSecrets(connections.sessions, keys),
    sessionRewriter: new RedisSessionRewriter(connections.sessions, keys),
    // On one Redis or Sentinel the session write's WAIT covers the pop before it (same connection).
    keyPool: new RedisKeyPoolStore(connections.sessions, keys, connections.cluster ? sessionsWait : NO_REPLICATION_WAIT),
    messages,
    consumer: redisConsumerStores(connections.messages, connections.sessions, keys),
    description: connections.description,
    connections,
    handle: {
      name: 'redis',
      // Both databases: a request may need either. On a cluster, every master: each owns some keys.
      ping: () =>
        orUnavailable('redis', async () => {
          const nodes = new Set([...connections.masters('messages'), ...connections.masters('sessions')]);
          await Promise.all([...nodes].map((node) => node.ping()));
        }),
      close: async () => {
        repair?.stop();
        await connections.close();
      },
    },
  };
}
