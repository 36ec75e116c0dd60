/**
 * SPEC §9 on the embedded store: the tables of the message log, beside §7's `messages` table
 * (which does not change, so its readers keep working).
 *
 * - `message_log`: one row per stored record, in storage order. `seq` is AUTOINCREMENT, never the
 *   implicit rowid: SQLite may reuse a rowid after the last row is deleted and VACUUM may
 *   renumber rowids, and a consumer's cursor must never come to mean another entry.
 *   sqlite_sequence keeps the largest `seq` ever given, which is the log's head.
 * - `consumers`: server-side bookmarks.
 * - `deleted_messages`: ids deleted by a consumer, kept for duplicate detection while the session
 *   that could resend them lives (purged once it has ended).
 * - `webhook_state`: one row, the webhook dispatcher's delivered mark and its lease.
 */
/** Part of the embedded schema: database.ts creates it with the rest, in one retried transaction. */
export const LOG_SCHEMA = `
    CREATE TABLE IF NOT EXISTS message_log (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      id  TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS message_log_id ON message_log (id);
    CREATE TABLE IF NOT EXISTS consumers (
      name TEXT PRIMARY KEY,
      seq  INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS deleted_messages (
      id                 TEXT PRIMARY KEY,
      session_key        TEXT NOT NULL,
      session_created_at TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS webhook_state (
      id          INTEGER PRIMARY KEY CHECK (id = 1),
      delivered   INTEGER NOT NULL DEFAULT 0,
      owner       TEXT,
      lease_until INTEGER
    );
    INSERT OR IGNORE INTO webhook_state (id, delivered) VALUES (1, 0);
`;
