/**
 * SPEC §8: the embedded default. One SQLite file in DATA_DIR holds the WordPress-shaped
 * usermeta table, the sessions and the messages, so a fresh clone runs with nothing else.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createLogSchema } from './log-schema.js';

export type SqliteDatabase = Database.Database;

/** The file inside DATA_DIR. */
export const EMBEDDED_DATABASE_FILE = 'secure-message-server.sqlite';

/** Opens (creating when needed) the embedded database with its schema. */
export function openEmbeddedDatabase(dataDir: string, tablePrefix: string): SqliteDatabase {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const db = new Database(join(dataDir, EMBEDDED_DATABASE_FILE));
  // WAL lets readers and one writer work at once (several server processes share the file);
  // synchronous=FULL makes a commit durable before we acknowledge a message.
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  db.exec(`
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
  `);
  createLogSchema(db);
  return db;
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
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 0');
  return db;
}

/** Epoch milliseconds at which a record with this TTL expires; null = never. */
export function expiryFrom(now: number, ttlSeconds: number): number | null {
  return ttlSeconds > 0 ? now + ttlSeconds * 1000 : null;
}
