/**
 * Chooses and opens the backends of SPEC §8: the embedded SQLite file by default; MySQL for
 * the directory when DB_HOST is set; Redis for sessions and messages when any Redis setting is.
 * Adding a backend means a folder beside sqlite/ and a branch here; the protocol code does not change.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { UsermetaTable } from '../directory/usermeta.js';
import type { BackendHandle, MessageStore, SessionStore } from '../store/store.js';
import { openEmbeddedDatabase, type SqliteDatabase } from './sqlite/database.js';
import { SqliteMessageStore, SqliteSessionStore, startExpiryPurge } from './sqlite/store.js';
import { SqliteUsermetaTable } from './sqlite/usermeta.js';

export interface Backends {
  sessions: SessionStore;
  messages: MessageStore;
  usermeta: UsermetaTable;
  /** Every distinct backend in use, for /readyz and shutdown. */
  handles: BackendHandle[];
  /** One line for the start-up log: which backend serves what. */
  description: { directory: string; store: string };
  close(): Promise<void>;
}

function sqliteHandle(db: SqliteDatabase, stopPurge: () => void): BackendHandle {
  return {
    name: 'sqlite',
    ping: async () => {
      db.prepare('SELECT 1').get();
    },
    close: async () => {
      stopPurge();
      db.close();
    },
  };
}

export async function openBackends(config: Config, log: Logger): Promise<Backends> {
  if (config.mysql !== undefined || config.redis !== undefined) {
    // Filled in by the production backends (Redis, MySQL).
    throw new Error('MySQL and Redis backends are not available in this build');
  }
  const db = openEmbeddedDatabase(config.dataDir, config.tablePrefix);
  const handle = sqliteHandle(db, startExpiryPurge(db));
  void log;
  return {
    sessions: new SqliteSessionStore(db),
    messages: new SqliteMessageStore(db),
    usermeta: new SqliteUsermetaTable(db, config.tablePrefix),
    handles: [handle],
    description: { directory: `sqlite (${config.dataDir})`, store: `sqlite (${config.dataDir})` },
    close: () => handle.close(),
  };
}
