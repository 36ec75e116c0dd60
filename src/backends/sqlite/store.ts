/** Sessions and messages in the embedded SQLite file, same records as Redis (SPEC §7, §8). */
import {
  decodeMessage,
  decodeSession,
  encodeMessage,
  encodeSession,
  type MessageRecord,
  type MessageStore,
  type SessionRecord,
  type SessionStore,
  type TtlSeconds,
} from '../../store/store.js';
import { orUnavailable } from '../unavailable.js';
import { expiryFrom, type SqliteDatabase } from './database.js';
import { startPeriodicPurge } from './periodic-purge.js';
import { WriteBatcher } from './write-batch.js';

const BACKEND = 'sqlite';
/** A row is live while it has no expiry or its expiry is in the future; `@now` is bound per call. */
export const LIVE = '(expires_at IS NULL OR expires_at > @now)';
/**
 * Set-if-absent as one statement, so it is atomic even across processes: a row past its expiry
 * counts as absent and is replaced; `changes` is 1 when this call wrote the row.
 */
export function setIfAbsentStatement(table: 'sessions' | 'messages', keyColumn: 'key' | 'id'): string {
  return `INSERT INTO ${table} (${keyColumn}, record, expires_at) VALUES (@${keyColumn}, @record, @expiresAt)
    ON CONFLICT (${keyColumn}) DO UPDATE SET record = excluded.record, expires_at = excluded.expires_at
    WHERE NOT ${LIVE.replaceAll('expires_at', `${table}.expires_at`)}`;
}

/** How often rows past their expiry are deleted; reads ignore them in between. */

export class SqliteSessionStore implements SessionStore {
  private readonly createQuery;
  private readonly getQuery;
  private readonly renewQuery;
  private readonly deleteQuery;

  /** `writes` is shared by the stores of one database, so their writes commit together. */
  constructor(
    db: SqliteDatabase,
    private readonly writes: WriteBatcher = new WriteBatcher(db),
  ) {
    this.createQuery = writes.db.prepare(setIfAbsentStatement('sessions', 'key'));
    this.getQuery = db.prepare<{ key: string; now: number }, { record: string }>(
      `SELECT record FROM sessions WHERE key = @key AND ${LIVE}`,
    );
    this.renewQuery = writes.db.prepare(`UPDATE sessions SET expires_at = @expiresAt WHERE key = @key AND ${LIVE}`);
    this.deleteQuery = writes.db.prepare<{ key: string }, { expires_at: number | null }>(
      `DELETE FROM sessions WHERE key = @key RETURNING expires_at`,
    );
  }

  create(key: string, record: SessionRecord, ttl: TtlSeconds): Promise<boolean> {
    return orUnavailable(BACKEND, () =>
      this.writes.run(() => {
        const now = Date.now();
        const result = this.createQuery.run({ key, record: encodeSession(record), expiresAt: expiryFrom(now, ttl), now });
        return result.changes === 1;
      }),
    );
  }

  get(key: string): Promise<SessionRecord | null> {
    return orUnavailable(BACKEND, () => {
      const row = this.getQuery.get({ key, now: Date.now() });
      return row === undefined ? null : decodeSession(row.record);
    });
  }

  renew(key: string, ttl: TtlSeconds): Promise<void> {
    return orUnavailable(BACKEND, () => this.writes.run(() => this.renewNow(key, ttl)));
  }

  /** renew's work, for a caller already inside a write of the batcher (accepted-message.ts). */
  renewNow(key: string, ttl: TtlSeconds): void {
    const now = Date.now();
    this.renewQuery.run({ key, expiresAt: expiryFrom(now, ttl), now });
  }

  delete(key: string): Promise<boolean> {
    return orUnavailable(BACKEND, () =>
      this.writes.run(() => {
        const row = this.deleteQuery.get({ key });
        return row !== undefined && (row.expires_at === null || row.expires_at > Date.now());
      }),
    );
  }
}

export class SqliteMessageStore implements MessageStore {
  private readonly putQuery;
  private readonly getQuery;
  private readonly listQuery;

  constructor(
    db: SqliteDatabase,
    private readonly writes: WriteBatcher = new WriteBatcher(db),
  ) {
    this.putQuery = writes.db.prepare(setIfAbsentStatement('messages', 'id'));
    this.getQuery = db.prepare<{ id: string; now: number }, { record: string }>(
      `SELECT record FROM messages WHERE id = @id AND ${LIVE}`,
    );
    this.listQuery = db.prepare<{ limit: number; now: number }, { record: string }>(
      `SELECT record FROM messages WHERE ${LIVE} ORDER BY rowid DESC LIMIT @limit`,
    );
  }

  putIfAbsent(record: MessageRecord, ttl: TtlSeconds): Promise<boolean> {
    return orUnavailable(BACKEND, () =>
      this.writes.run(() => {
        const now = Date.now();
        const result = this.putQuery.run({ id: record.id, record: encodeMessage(record), expiresAt: expiryFrom(now, ttl), now });
        return result.changes === 1;
      }),
    );
  }

  get(id: string): Promise<MessageRecord | null> {
    return orUnavailable(BACKEND, () => {
      const row = this.getQuery.get({ id, now: Date.now() });
      return row === undefined ? null : decodeMessage(row.record);
    });
  }

  list(limit: number): Promise<MessageRecord[]> {
    return orUnavailable(BACKEND, () =>
      this.listQuery
        .all({ limit, now: Date.now() })
        .map((row) => decodeMessage(row.record))
        .filter((record): record is MessageRecord => record !== null),
    );
  }
}

/** One round of the expiry purge on `db` (the caller holds the transaction); exported for the growth bench, which times it. */
export function expiryPurgeRound(db: SqliteDatabase): (now: number) => void {
  const sessions = db.prepare(`DELETE FROM sessions WHERE expires_at IS NOT NULL AND expires_at <= ?`);
  const messages = db.prepare(`DELETE FROM messages WHERE expires_at IS NOT NULL AND expires_at <= ?`);
  return (now) => {
    sessions.run(now);
    messages.run(now);
  };
}

/** Deletes expired rows now and then, through the writer; returns a function that stops it. */
export function startExpiryPurge(writes: WriteBatcher): () => void {
  return startPeriodicPurge(writes, expiryPurgeRound(writes.db));
}
