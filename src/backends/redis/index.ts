/** Opens the Redis store (SPEC §7): two connections, the key layout, and the backend handle. */
import type { Logger } from 'pino';
import { DEFAULT_SESSION_TTL_SECONDS, type RedisConfig } from '../../config/config.js';
import type { ConsumerStores } from '../../store/message-log.js';
import type { BackendHandle, TtlSeconds } from '../../store/store.js';
import { orUnavailable } from '../unavailable.js';
import { openRedisConnections } from './connection.js';
import { RedisFailureCounterStore, RedisSessionRecheckStore } from './credentials.js';
import { RedisAcceptedMessageStore } from './accepted-message.js';
import { RedisInstallationSecrets } from './installation-secrets.js';
import { RedisKeys } from './keys.js';
import { RedisSessionGuardStore } from './session-guard.js';
import { RedisSessionRewriter } from './session-rewrite.js';
import { redisConsumerStores, RedisLoggedMessageStore } from './message-log.js';
import { RedisMessageStore, RedisSessionStore } from './store.js';

export { RedisKeys } from './keys.js';
export { RedisMessageStore, RedisSessionStore } from './store.js';

export interface RedisStore {
  sessions: RedisSessionStore;
  messages: RedisMessageStore;
  /** SPEC §10, in REDIS_MAIN_DB (keys.ts says why). */
  failures: RedisFailureCounterStore;
  rechecks: RedisSessionRecheckStore;
  /** Issue 10: per-session hardening state, the installation's secrets, rewriting records. */
  guard: RedisSessionGuardStore;
  /** Issue 15: an accepted submit's session side in one script (accepted-message.ts). */
  accepted: RedisAcceptedMessageStore;
  installationSecrets: RedisInstallationSecrets;
  sessionRewriter: RedisSessionRewriter;
  /** SPEC §9: the log, bookmarks and webhook state. */
  consumer: ConsumerStores;
  handle: BackendHandle;
  description: string;
}

/** Never throws for an unreachable Redis: that is logged, and requests get 503 until it answers. */
export async function openRedisStore(
  config: RedisConfig,
  log: Logger,
  /** SPEC §9: ids a consumer deleted are remembered as long as their session (default: DEFAULT_SESSION_TTL_SECONDS, config.ts). */
  options: { sessionTtlSeconds?: TtlSeconds } = {},
): Promise<RedisStore> {
  const connections = openRedisConnections(config, log);
  const keys = new RedisKeys(config.keyPrefix);
  // Waiting for the first attempt lets a healthy start be ready the moment the server listens.
  await connections.firstAttempt;
  const guard = new RedisSessionGuardStore(connections.sessions, keys);
  const messages = new RedisLoggedMessageStore(connections.messages, keys, options.sessionTtlSeconds ?? DEFAULT_SESSION_TTL_SECONDS);
  return {
    sessions: new RedisSessionStore(connections.sessions, keys),
    failures: new RedisFailureCounterStore(connections.messages, keys),
    rechecks: new RedisSessionRecheckStore(connections.messages, keys),
    guard,
    accepted: new RedisAcceptedMessageStore(connections.sessions, keys, messages, guard, log),
    installationSecrets: new RedisInstallationSecrets(connections.sessions, keys),
    sessionRewriter: new RedisSessionRewriter(connections.sessions, keys),
    messages,
    consumer: redisConsumerStores(connections.messages, connections.sessions, keys),
    description: connections.description,
    handle: {
      name: 'redis',
      // Both databases: a request may need either.
      ping: () =>
        orUnavailable('redis', async () => {
          await Promise.all([connections.messages.ping(), connections.sessions.ping()]);
        }),
      close: () => connections.close(),
    },
  };
}
