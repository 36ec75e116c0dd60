/**
 * SPEC §8: the embedded default. One SQLite file in DATA_DIR holds the WordPress-shaped
 * usermeta table, the sessions and the messages, so a fresh clone runs with nothing else.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CREDENTIAL_SCHEMA } from './credentials.js';
import { SESSION_GUARD_SCHEMA } from './session-guard.js';
import { prepareDataFiles, secureConnection, withBusyRetry } from './file-safety.js';
import { INSTALLATION_SECRETS_SCHEMA } from './installation-secrets.js';
import { LOG_SCHEMA } from './log-schema.js';
import { KEY_POOL_SCHEMA } from './key-pool.js';

export type SqliteDatabase = Database.Database;

/** The file inside DATA_DIR. */
export const EMBEDDED_DATABASE_FILE = 'secure-message-server.sqlite';

/** Opens (creating when needed) the embedded database with its schema. */
export function openEmbeddedDatabase(dataDir: string, tablePrefix: string): SqliteDatabase {
  const file = join(dataDir, EMBEDDED_DATABASE_FILE);
  // SPEC §11: 0700 folder, 0600 files, existing ones too (file-safety.ts).
  prepareDataFiles(dataDir, file);
  const db = new Database(file);
  // The busy timeout first, so the steps below wait for another process starting at the same time.
  db.pragma('busy_timeout = 5000');
  // WAL lets readers and one writer work at once (several server processes share the file);
  // synchronous=FULL makes a commit durable before we acknowledge a message.
  withBusyRetry(() => db.pragma('journal_mode = WAL'));
  db.pragma('synchronous = FULL');
  secureConnection(db);
  // One IMMEDIATE transaction, retried: two workers on a fresh DATA_DIR create it at once (issue 14).
  withBusyRetry(() => db.transaction(() => db.exec(schemaSql(tablePrefix))).immediate());
  prepareDataFiles(dataDir, file);
  return db;
}

function schemaSql(tablePrefix: string): string {
  return `
    CREATE TABLE IF NOT EXISTS ${tablePrefix}usermeta (
      umeta_id   INTEGER PRIMARY KEY AUTOINCREMENT,
      user_id    INTEGER NOT NULL DEFAULT 0,
      meta_key   TEXT,
      meta_value TEXT
    );
    CREATE INDEX IF NOT EXISTS ${tablePrefix}usermeta_user_id ON ${tablePrefix}usermeta (user_id);
    CREATE INDEX IF NOT EXISTS ${tablePrefix}usermeta_meta_key ON ${tablePrefix}usermeta (meta_key);
    -- Every auth finds its user by (meta_key, meta_value); WordPress indexes meta_key alone,
    -- which makes that a scan over every user's UUID row.
    CREATE INDEX IF NOT EXISTS ${tablePrefix}usermeta_meta_key_value ON ${tablePrefix}usermeta (meta_key, meta_value);
    CREATE TABLE IF NOT EXISTS sessions (
      key        TEXT PRIMARY KEY,
      record     TEXT NOT NULL,
      expires_at INTEGER
    );
    CREATE TABLE IF NOT EXISTS messages (
      id         TEXT PRIMARY KEY,
      record     TEXT NOT NULL,
      expires_at INTEGER
    );
    -- The expiry purge (store.ts) finds expired rows through these instead of reading every row
    -- while it holds the write lock (2.5 s at 100k sessions and 1M messages, docs/PERFORMANCE.md
    -- "Growth"). Partial: rows that never expire (messages, by default) are not in them.
    CREATE INDEX IF NOT EXISTS sessions_expires_at ON sessions (expires_at) WHERE expires_at IS NOT NULL;
    CREATE INDEX IF NOT EXISTS messages_expires_at ON messages (expires_at) WHERE expires_at IS NOT NULL;
    ${SESSION_GUARD_SCHEMA}
    ${INSTALLATION_SECRETS_SCHEMA}
    ${CREDENTIAL_SCHEMA}
    ${LOG_SCHEMA}
    ${KEY_POOL_SCHEMA}
  `;
}

/**
 * A second connection to the embedded file for the WriteBatcher: busy_timeout 0, so a write
 * that finds the lock taken returns at once and is retried on a timer instead of sleeping the
 * event loop. The schema is already there (openEmbeddedDatabase ran first).
 *
 * synchronous=NORMAL only because the WriteBatcher syncs the WAL itself, off the event loop,
 * before it acknowledges a write: a connection that writes without it must keep FULL.
 */
export function openWriterConnection(dataDir: string): SqliteDatabase {
  const db = new Database(join(dataDir, EMBEDDED_DATABASE_FILE));
  db.pragma('busy_timeout = 5000');
  withBusyRetry(() => db.pragma('journal_mode = WAL'));
  db.pragma('synchronous = NORMAL');
  secureConnection(db);
  db.pragma('busy_timeout = 0');
  return db;
}

/** Epoch milliseconds at which a record with this TTL expires; null = never. */
export function expiryFrom(now: number, ttlSeconds: number): number | null {
  return ttlSeconds > 0 ? now + ttlSeconds * 1000 : null;
}
