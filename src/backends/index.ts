/**
 * Chooses and opens the backends of SPEC §8: the embedded SQLite file by default; MySQL for
 * the directory when DB_HOST is set; Redis for sessions and messages when any Redis setting is.
 * Adding a backend means a folder beside sqlite/ and a branch here; the protocol code does not change.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { UsermetaTable } from '../directory/usermeta.js';
import type { FailureCounterStore } from '../store/failure-budgets.js';
import type { SessionRecheckStore } from '../store/session-rechecks.js';
import type { RateLimitCounterStore } from '../store/rate-limits.js';
import type { InstallationSecretStore } from '../store/installation-secret.js';
import type { KeyPoolStore } from '../store/key-pool-store.js';
import type { AcceptedMessageStore } from '../store/accepted-message.js';
import type { SessionGuardStore } from '../store/session-guard.js';
import type { SessionRecordRewriter } from '../store/session-rewrite.js';
import type { ConsumerStores } from '../store/message-log.js';
import type { BackendHandle, MessageStore, SessionStore } from '../store/store.js';
import { openMysqlDirectory } from './mysql/index.js';
import { openRedisStore } from './redis/index.js';
import { openEmbeddedDatabase, openWriterConnection, type SqliteDatabase } from './sqlite/database.js';
import { SqliteFailureCounterStore, SqliteSessionRecheckStore, startCredentialPurge } from './sqlite/credentials.js';
import { SqliteRateLimitStore } from './sqlite/rate-limits.js';
import { WalScrubber } from './sqlite/file-safety.js';
import { SqliteInstallationSecrets } from './sqlite/installation-secrets.js';
import { SqliteKeyPoolStore } from './sqlite/key-pool.js';
import { scrubbingSessionStore } from './sqlite/scrubbing-sessions.js';
import { SqliteSessionGuardStore, startSessionGuardPurge } from './sqlite/session-guard.js';
import { SqliteSessionRewriter } from './sqlite/session-rewrite.js';
import { SqliteLoggedMessageStore, sqliteConsumerStores } from './sqlite/message-log.js';
import { SqliteSessionStore, startExpiryPurge } from './sqlite/store.js';
import { SqliteUsermetaTable } from './sqlite/usermeta.js';
import { WriteBatcher } from './sqlite/write-batch.js';
import { SqliteAcceptedMessageStore } from './sqlite/accepted-message.js';

export interface Backends {
  sessions: SessionStore;
  messages: MessageStore;
  /** SPEC §10: failure budgets and session recheck marks, in the same store as the sessions. */
  failures: FailureCounterStore;
  rechecks: SessionRecheckStore;
  /** SPEC §13: the /api rate limit's counters, shared by every process and instance of the store. */
  rateLimits: RateLimitCounterStore;
  /** SPEC §9: the message log, bookmarks and webhook state, in the same store as the messages. */
  consumer: ConsumerStores;
  usermeta: UsermetaTable;
  /** Issue 10 (SPEC §10, §11): per-session hardening state, in the session store. */
  guard: SessionGuardStore;
  /** Issue 15: an accepted submit's claim, record and renewal as one store step (accepted-message.ts). */
  accepted: AcceptedMessageStore;
  /** Secrets every process of the installation shares (the log tag key), in the session store. */
  installationSecrets: InstallationSecretStore;
  /** For `admin sessions rewrap`. */
  sessionRewriter: SessionRecordRewriter;
  /** Issue 15: the shared pool of pre-generated session key pairs, beside the sessions. */
  keyPool: KeyPoolStore;
  /** Every distinct backend in use, for /readyz and shutdown. */
  handles: BackendHandle[];
  /** One line for the start-up log: which backend serves what. */
  description: { directory: string; store: string };
  close(): Promise<void>;
}

interface Embedded {
  db: SqliteDatabase;
  /** Every write of the store and the directory: one commit for a turn's writes, and no sleeping on the lock. */
  writes: WriteBatcher;
  /** SPEC §11: truncates the WAL after a session is deleted. */
  scrubber: WalScrubber;
  handle: BackendHandle;
}

function openEmbedded(config: Config): Embedded {
  const db = openEmbeddedDatabase(config.dataDir, config.tablePrefix);
  const writer = openWriterConnection(config.dataDir);
  const writes = new WriteBatcher(writer);
  const stopPurge = startExpiryPurge(writes);
  const stopCredentialPurge = startCredentialPurge(writes);
  const scrubber = new WalScrubber(writer);
  const stopGuardPurge = startSessionGuardPurge(writes, () => scrubber.request());
  return {
    db,
    writes,
    scrubber,
    handle: {
      name: 'sqlite',
      ping: async () => {
        db.prepare('SELECT 1').get();
      },
      close: async () => {
        stopPurge();
        stopCredentialPurge();
        stopGuardPurge();
        scrubber.close();
        writes.close();
        writer.close();
        db.close();
      },
    },
  };
}

/**
 * Never fails because a network backend is down: the server must start, report not ready
 * and recover by itself (issue 3). A down backend is logged here, once, at start-up.
 */
export async function openBackends(config: Config, log: Logger): Promise<Backends> {
  let embedded: Embedded | undefined;
  // Opened only when some part uses it, so a Redis + MySQL deployment leaves DATA_DIR alone.
  const sqlite = (): Embedded => (embedded ??= openEmbedded(config));

  const redis =
    config.redis === undefined ? undefined : await openRedisStore(config.redis, log, { sessionTtlSeconds: config.sessionTtlSeconds });
  const mysql = config.mysql === undefined ? undefined : openMysqlDirectory(config.mysql, config.tablePrefix, log, config.hardening.mysqlQueueLimit);
  const store =
    redis ??
    (() => {
      const { db, writes, scrubber, handle } = sqlite();
      const sessions = new SqliteSessionStore(db, writes);
      const guard = new SqliteSessionGuardStore(writes);
      const messages = new SqliteLoggedMessageStore(db, writes);
      return {
        sessions: scrubbingSessionStore(sessions, scrubber),
        failures: new SqliteFailureCounterStore(db, writes),
        rechecks: new SqliteSessionRecheckStore(db, writes),
        rateLimits: new SqliteRateLimitStore(writes),
        guard,
        installationSecrets: new SqliteInstallationSecrets(writes),
        sessionRewriter: new SqliteSessionRewriter(db, writes, scrubber),
        keyPool: new SqliteKeyPoolStore(db, writes, () => scrubber.request()),
        messages,
        accepted: new SqliteAcceptedMessageStore(writes, { sessions, messages, guard }),
        consumer: sqliteConsumerStores(db, writes),
        handle,
        description: `sqlite (${config.dataDir})`,
      };
    })();
  const directory =
    mysql ??
    (() => {
      const { db, writes, handle } = sqlite();
      return { usermeta: new SqliteUsermetaTable(db, config.tablePrefix, writes), handle, description: `sqlite (${config.dataDir})` };
    })();

  const handles = [...new Set([store.handle, directory.handle])];
  await Promise.all(
    handles.map(async (handle) => {
      try {
        await handle.ping();
      } catch (error) {
        log.warn(
          { backend: handle.name, reason: error instanceof Error ? error.message : String(error) },
          'backend unreachable at start-up: starting anyway, not ready until it answers',
        );
      }
    }),
  );

  return {
    sessions: store.sessions,
    messages: store.messages,
    failures: store.failures,
    rechecks: store.rechecks,
    rateLimits: store.rateLimits,
    consumer: store.consumer,
    usermeta: directory.usermeta,
    guard: store.guard,
    accepted: store.accepted,
    installationSecrets: store.installationSecrets,
    sessionRewriter: store.sessionRewriter,
    keyPool: store.keyPool,
    handles,
    description: { directory: directory.description, store: store.description },
    close: async () => {
      await Promise.allSettled(handles.map((handle) => handle.close()));
    },
  };
}
