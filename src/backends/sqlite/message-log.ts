/**
 * SPEC §9 on the embedded store: the record and its log entry in one transaction of the group
 * commit (so a record answered `delivered` always has its entry), the consumer's reads, bookmarks,
 * deletion that keeps duplicate detection, and the webhook dispatcher's state. Tables: log-schema.ts.
 */
import { decodeMessage, encodeMessage, type MessageRecord, type TtlSeconds } from '../../store/store.js';
import type { Bookmarks, ConsumerStores, MessageLog, StoredEntry, WebhookState } from '../../store/message-log.js';
import { orUnavailable } from '../unavailable.js';
import { expiryFrom, type SqliteDatabase } from './database.js';
import { LIVE, setIfAbsentStatement, SqliteMessageStore } from './store.js';
import type { WriteBatcher } from './write-batch.js';

const BACKEND = 'sqlite';
/** Log rows looked at per round of a purge. */
const PURGE_BATCH = 500;

/**
 * The MessageStore of the embedded store with the log: the set-if-absent, the refusal of an id a
 * consumer deleted in a session that still lives, and the log entry are one savepoint inside the
 * batcher's group transaction, so they commit (and are synced) together or not at all.
 */
export class SqliteLoggedMessageStore extends SqliteMessageStore {
  private readonly store: (record: MessageRecord, ttl: TtlSeconds) => boolean;

  constructor(
    db: SqliteDatabase,
    private readonly batcher: WriteBatcher,
  ) {
    super(db, batcher);
    const writer = batcher.db;
    const put = writer.prepare(setIfAbsentStatement('messages', 'id'));
    const deletedInSession = writer.prepare<[string], { id: string }>(`SELECT id FROM deleted_messages WHERE id = ?`);
    // A record stored again after it expired gets a new entry at the end: one entry per record.
    const forgetEntry = writer.prepare(`DELETE FROM message_log WHERE id = ?`);
    const appendEntry = writer.prepare(`INSERT INTO message_log (id) VALUES (?)`);
    // A savepoint inside the group transaction: a failure half way undoes this write alone.
    this.store = writer.transaction((record: MessageRecord, ttl: TtlSeconds): boolean => {
      if (deletedInSession.get(record.id) !== undefined) return false;
      const now = Date.now();
      const result = put.run({ id: record.id, record: encodeMessage(record), expiresAt: expiryFrom(now, ttl), now });
      if (result.changes !== 1) return false;
      forgetEntry.run(record.id);
      appendEntry.run(record.id);
      return true;
    });
  }

  override putIfAbsent(record: MessageRecord, ttl: TtlSeconds): Promise<boolean> {
    return orUnavailable(BACKEND, () => this.batcher.run(() => this.store(record, ttl)));
  }

  /** putIfAbsent's work, for a caller already inside a write of the batcher (accepted-message.ts). */
  storeNow(record: MessageRecord, ttl: TtlSeconds): boolean {
    return this.store(record, ttl);
  }
}

export class SqliteMessageLog implements MessageLog {
  private readonly headQuery;
  private readonly afterQuery;
  private readonly recordsQuery;
  private readonly countQuery;
  private readonly deleteWrite: (id: string) => boolean;
  private readonly purgeWrite: () => number;

  constructor(
    db: SqliteDatabase,
    private readonly writes: WriteBatcher,
  ) {
    this.headQuery = db.prepare<[], { seq: number }>(`SELECT seq FROM sqlite_sequence WHERE name = 'message_log'`);
    this.afterQuery = db.prepare<[number, number], { seq: number; id: string }>(
      `SELECT seq, id FROM message_log WHERE seq > ? ORDER BY seq LIMIT ?`,
    );
    this.recordsQuery = db.prepare<{ ids: string; now: number }, { id: string; record: string }>(
      `SELECT id, record FROM messages WHERE id IN (SELECT value FROM json_each(@ids)) AND ${LIVE}`,
    );
    this.countQuery = db.prepare<[number], { n: number }>(`SELECT count(*) AS n FROM message_log WHERE seq > ?`);

    const writer = writes.db;
    const removeRecord = writer.prepare<[string], { record: string; expires_at: number | null }>(
      `DELETE FROM messages WHERE id = ? RETURNING record, expires_at`,
    );
    const removeEntries = writer.prepare(`DELETE FROM message_log WHERE id = ?`);
    const liveSession = writer.prepare<{ key: string; now: number }, { created_at: string | null }>(
      `SELECT json_extract(record, '$.created_at') AS created_at FROM sessions WHERE key = @key AND ${LIVE}`,
    );
    const remember = writer.prepare(
      `INSERT OR REPLACE INTO deleted_messages (id, session_key, session_created_at) VALUES (?, ?, ?)`,
    );
    this.deleteWrite = writer.transaction((id: string): boolean => {
      const now = Date.now();
      const row = removeRecord.get(id);
      removeEntries.run(id);
      if (row === undefined || (row.expires_at !== null && row.expires_at <= now)) return false;
      const record = decodeMessage(row.record);
      if (record !== null) {
        // SPEC §2: the client key is user_id followed by device_id. Only the session that sent the
        // envelope can send it again, so the id is remembered for as long as that session lives.
        const key = `${record.user_id}${record.device_id}`;
        const session = liveSession.get({ key, now });
        if (session?.created_at != null) remember.run(id, key, session.created_at);
      }
      return true;
    });

    const head = writer.prepare<[number], { seq: number; live: number }>(
      `SELECT l.seq AS seq, (m.id IS NOT NULL AND (m.expires_at IS NULL OR m.expires_at > ?)) AS live
         FROM message_log l LEFT JOIN messages m ON m.id = l.id ORDER BY l.seq LIMIT ${PURGE_BATCH}`,
    );
    const dropThrough = writer.prepare(`DELETE FROM message_log WHERE seq <= ?`);
    const forgetEnded = writer.prepare<{ now: number }>(
      `DELETE FROM deleted_messages WHERE NOT EXISTS (
         SELECT 1 FROM sessions WHERE sessions.key = deleted_messages.session_key AND ${LIVE.replaceAll('expires_at', 'sessions.expires_at')}
           AND json_extract(sessions.record, '$.created_at') = deleted_messages.session_created_at)`,
    );
    this.purgeWrite = writer.transaction((): number => {
      const now = Date.now();
      forgetEnded.run({ now });
      // Only the start of the log: entries are in storage order and records of one TTL expire in
      // that order too, so what has expired is a prefix; an entry gone out of turn is skipped by
      // readers until the entries before it go.
      let removed = 0;
      for (;;) {
        const rows = head.all(now);
        const firstLive = rows.findIndex((row) => row.live === 1);
        const dead = firstLive === -1 ? rows.length : firstLive;
        if (dead === 0) return removed;
        dropThrough.run(rows[dead - 1]!.seq);
        removed += dead;
        if (firstLive !== -1) return removed;
      }
    });
  }

  head(): Promise<number> {
    return orUnavailable(BACKEND, () => this.headQuery.get()?.seq ?? 0);
  }

  entriesAfter(sequence: number, limit: number): Promise<StoredEntry[]> {
    return orUnavailable(BACKEND, () => this.afterQuery.all(sequence, limit).map((row) => ({ sequence: row.seq, id: row.id })));
  }

  records(ids: readonly string[]): Promise<Array<MessageRecord | null>> {
    return orUnavailable(BACKEND, () => {
      const found = new Map<string, MessageRecord | null>();
      for (const row of this.recordsQuery.all({ ids: JSON.stringify(ids), now: Date.now() })) found.set(row.id, decodeMessage(row.record));
      return ids.map((id) => found.get(id) ?? null);
    });
  }

  countAfter(sequence: number): Promise<number> {
    return orUnavailable(BACKEND, () => this.countQuery.get(sequence)?.n ?? 0);
  }

  deleteMessage(id: string): Promise<boolean> {
    return orUnavailable(BACKEND, () => this.writes.run(() => this.deleteWrite(id)));
  }

  purge(): Promise<number> {
    return orUnavailable(BACKEND, () => this.writes.run(() => this.purgeWrite()));
  }
}

export class SqliteBookmarks implements Bookmarks {
  private readonly getQuery;
  private readonly listQuery;
  private readonly advanceWrite: (name: string, sequence: number) => 'moved' | 'same' | 'backwards';

  constructor(
    db: SqliteDatabase,
    private readonly writes: WriteBatcher,
  ) {
    this.getQuery = db.prepare<[string], { seq: number }>(`SELECT seq FROM consumers WHERE name = ?`);
    this.listQuery = db.prepare<[], { name: string; seq: number }>(`SELECT name, seq FROM consumers ORDER BY name`);
    const current = writes.db.prepare<[string], { seq: number }>(`SELECT seq FROM consumers WHERE name = ?`);
    const set = writes.db.prepare(`INSERT INTO consumers (name, seq) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET seq = excluded.seq`);
    // Read and write under the writer's lock: two PUTs racing cannot move a bookmark backwards.
    this.advanceWrite = writes.db.transaction((name: string, sequence: number) => {
      const now = current.get(name)?.seq;
      if (now !== undefined && now > sequence) return 'backwards';
      if (now === sequence) return 'same';
      set.run(name, sequence);
      return 'moved';
    });
  }

  get(name: string): Promise<number | null> {
    return orUnavailable(BACKEND, () => this.getQuery.get(name)?.seq ?? null);
  }

  list(): Promise<Array<{ name: string; sequence: number }>> {
    return orUnavailable(BACKEND, () => this.listQuery.all().map((row) => ({ name: row.name, sequence: row.seq })));
  }

  advance(name: string, sequence: number): Promise<'moved' | 'same' | 'backwards'> {
    return orUnavailable(BACKEND, () => this.writes.run(() => this.advanceWrite(name, sequence)));
  }
}

export class SqliteWebhookState implements WebhookState {
  private readonly claimQuery;
  private readonly releaseQuery;
  private readonly deliveredQuery;
  private readonly advanceQuery;

  constructor(
    db: SqliteDatabase,
    private readonly writes: WriteBatcher,
  ) {
    const writer = writes.db;
    this.claimQuery = writer.prepare<{ owner: string; until: number; now: number }>(
      `UPDATE webhook_state SET owner = @owner, lease_until = @until
        WHERE id = 1 AND (owner IS NULL OR owner = @owner OR lease_until IS NULL OR lease_until < @now)`,
    );
    this.releaseQuery = writer.prepare(`UPDATE webhook_state SET owner = NULL, lease_until = NULL WHERE id = 1 AND owner = ?`);
    this.deliveredQuery = db.prepare<[], { delivered: number }>(`SELECT delivered FROM webhook_state WHERE id = 1`);
    this.advanceQuery = writer.prepare<{ owner: string; seq: number; now: number }>(
      `UPDATE webhook_state SET delivered = max(delivered, @seq) WHERE id = 1 AND owner = @owner AND lease_until >= @now`,
    );
  }

  claim(owner: string, leaseMs: number): Promise<boolean> {
    return orUnavailable(BACKEND, () =>
      this.writes.run(() => {
        const now = Date.now();
        return this.claimQuery.run({ owner, until: now + leaseMs, now }).changes === 1;
      }),
    );
  }

  release(owner: string): Promise<void> {
    return orUnavailable(BACKEND, () => this.writes.run(() => void this.releaseQuery.run(owner)));
  }

  delivered(): Promise<number> {
    return orUnavailable(BACKEND, () => this.deliveredQuery.get()?.delivered ?? 0);
  }

  advance(owner: string, sequence: number): Promise<boolean> {
    return orUnavailable(BACKEND, () =>
      this.writes.run(() => this.advanceQuery.run({ owner, seq: sequence, now: Date.now() }).changes === 1),
    );
  }
}

/** The consumer side of the embedded store, on the reader connection and the shared writer. */
export function sqliteConsumerStores(db: SqliteDatabase, writes: WriteBatcher): ConsumerStores {
  return {
    log: new SqliteMessageLog(db, writes),
    bookmarks: new SqliteBookmarks(db, writes),
    webhook: new SqliteWebhookState(db, writes),
  };
}
