/**
 * SPEC §10/§11 per-session state in the embedded file (src/store/session-guard.ts): AES-CBC
 * content claims and the invalid-envelope count. Every write goes through the WriteBatcher's
 * transaction, so a claim or a count is atomic across every process sharing the file. State is
 * tied to the `sessions` table: rows whose session is gone are purged with the expired sessions.
 *
 * The purge looks only at the keys whose session may have gone: the ones the triggers below
 * wrote down when a session row was deleted or replaced (by any process, the admin command
 * included: the triggers are in the file), and the expired sessions not yet deleted (the
 * expiry purge's partial index). It used to test every claim of every live session once a
 * minute, O(messages of the live AES-CBC sessions) with a JSON parse of the session record each.
 */
import type { SessionGuardStore, SessionScope } from '../../store/session-guard.js';
import type { TtlSeconds } from '../../store/store.js';
import { orUnavailable } from '../unavailable.js';
import type { SqliteDatabase } from './database.js';
import { PURGE_INTERVAL_MS, startPeriodicPurge } from './periodic-purge.js';
import type { WriteBatcher } from './write-batch.js';

const BACKEND = 'sqlite';

/** The tables of this module; created with the rest of the schema by openEmbeddedDatabase. */
export const SESSION_GUARD_SCHEMA = `
  CREATE TABLE IF NOT EXISTS session_content_claims (
    session_key     TEXT NOT NULL,
    session_created TEXT NOT NULL,
    fingerprint     TEXT NOT NULL,
    id              TEXT NOT NULL,
    PRIMARY KEY (session_key, fingerprint)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS session_invalid_counts (
    session_key     TEXT PRIMARY KEY,
    session_created TEXT NOT NULL,
    count           INTEGER NOT NULL
  ) WITHOUT ROWID;
  -- Client keys whose session row was deleted or replaced (another created_at) at ended_at (epoch ms).
  CREATE TABLE IF NOT EXISTS session_guard_ended (
    session_key TEXT PRIMARY KEY,
    ended_at    INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TRIGGER IF NOT EXISTS session_guard_on_session_delete AFTER DELETE ON sessions BEGIN
    INSERT INTO session_guard_ended (session_key, ended_at) VALUES (old.key, CAST(unixepoch('subsec') * 1000 AS INTEGER))
      ON CONFLICT (session_key) DO UPDATE SET ended_at = excluded.ended_at;
  END;
  CREATE TRIGGER IF NOT EXISTS session_guard_on_session_replace AFTER UPDATE OF record ON sessions
    WHEN json_extract(old.record, '$.created_at') IS NOT json_extract(new.record, '$.created_at') BEGIN
    INSERT INTO session_guard_ended (session_key, ended_at) VALUES (old.key, CAST(unixepoch('subsec') * 1000 AS INTEGER))
      ON CONFLICT (session_key) DO UPDATE SET ended_at = excluded.ended_at;
  END;
`;

/**
 * How long a key stays in session_guard_ended after its session ended: two purge rounds, not
 * one, because a request that read the session just before it ended may still write a claim
 * for it after the next round (its write waits in the batcher); the round after finds that one.
 */
const ENDED_KEPT_MS = 2 * PURGE_INTERVAL_MS;

/**
 * A state row whose session is no longer live: logged out, expired, or replaced by a new session
 * of the same key (whose record has another created_at; the new session never reads those rows).
 */
const NOT_LIVE = (table: string) =>
  `NOT EXISTS (SELECT 1 FROM sessions s WHERE s.key = ${table}.session_key
     AND json_extract(s.record, '$.created_at') = ${table}.session_created AND (s.expires_at IS NULL OR s.expires_at > @now))`;
/** Every orphaned row, by reading every row: the first round of a process (see sessionGuardPurgeRound). */
const ALL_ORPHANED = (table: string) => `DELETE FROM ${table} WHERE ${NOT_LIVE(table)}`;
/**
 * The orphaned rows of the keys whose session may have gone: through the primary key
 * (session_key first) from the ended keys and the expired sessions (sessions_expires_at).
 * Exported for the test of its query plan.
 */
export const ORPHANED_OF_ENDED = (table: 'session_content_claims' | 'session_invalid_counts') =>
  `DELETE FROM ${table} WHERE session_key IN (
       SELECT session_key FROM session_guard_ended
       UNION SELECT key FROM sessions WHERE expires_at IS NOT NULL AND expires_at <= @now)
     AND ${NOT_LIVE(table)}`;

export class SqliteSessionGuardStore implements SessionGuardStore {
  private readonly insertClaim;
  private readonly readClaim;
  private readonly deleteClaim;
  private readonly bumpCount;
  private readonly forgetClaims;
  private readonly forgetCounts;

  constructor(private readonly writes: WriteBatcher) {
    const db: SqliteDatabase = writes.db;
    // A claim left by an earlier session of the key is taken over in the same statement, so a
    // claim never needs to look at the key's other rows: deleting them on every claim read every
    // claim of the session (O(messages in the session) per CBC submit: 0.5 ms at 100 claims, 33 ms
    // at 10,000; docs/PERFORMANCE.md "Growth"). The rest of an earlier session's rows go with the purge.
    this.insertClaim = db.prepare<{ key: string; created: string; fingerprint: string; id: string }>(
      `INSERT INTO session_content_claims (session_key, session_created, fingerprint, id)
       VALUES (@key, @created, @fingerprint, @id)
       ON CONFLICT (session_key, fingerprint) DO UPDATE SET session_created = excluded.session_created, id = excluded.id
         WHERE session_content_claims.session_created <> excluded.session_created`,
    );
    this.readClaim = db.prepare<{ key: string; fingerprint: string }, { id: string }>(
      `SELECT id FROM session_content_claims WHERE session_key = @key AND fingerprint = @fingerprint`,
    );
    this.deleteClaim = db.prepare<{ key: string; created: string; fingerprint: string; id: string }>(
      `DELETE FROM session_content_claims
       WHERE session_key = @key AND session_created = @created AND fingerprint = @fingerprint AND id = @id`,
    );
    // A row of an earlier session of the key starts over at 1.
    this.bumpCount = db.prepare<{ key: string; created: string }, { count: number }>(
      `INSERT INTO session_invalid_counts (session_key, session_created, count) VALUES (@key, @created, 1)
       ON CONFLICT (session_key) DO UPDATE SET
         count = CASE WHEN session_created = excluded.session_created THEN count + 1 ELSE 1 END,
         session_created = excluded.session_created
       RETURNING count`,
    );
    this.forgetClaims = db.prepare<[string]>(`DELETE FROM session_content_claims WHERE session_key = ?`);
    this.forgetCounts = db.prepare<[string]>(`DELETE FROM session_invalid_counts WHERE session_key = ?`);
  }

  claimContent(scope: SessionScope, fingerprint: string, id: string, _ttl: TtlSeconds): Promise<string | null> {
    return orUnavailable(BACKEND, () => this.writes.run(() => this.claimNow(scope, fingerprint, id)));
  }

  /** claimContent's work, for a caller already inside a write of the batcher (accepted-message.ts). */
  claimNow(scope: SessionScope, fingerprint: string, id: string): string | null {
    const params = { key: scope.clientKey, created: scope.createdAt, fingerprint, id };
    if (this.insertClaim.run(params).changes === 1) return null;
    // Not written: this session already claimed this content (the row is this session's).
    return this.readClaim.get(params)?.id ?? null;
  }

  releaseContent(scope: SessionScope, fingerprint: string, id: string): Promise<void> {
    return orUnavailable(BACKEND, () =>
      this.writes.run(() => {
        this.deleteClaim.run({ key: scope.clientKey, created: scope.createdAt, fingerprint, id });
      }),
    );
  }

  countInvalid(scope: SessionScope, _ttl: TtlSeconds): Promise<number> {
    return orUnavailable(BACKEND, () =>
      this.writes.run(() => this.bumpCount.get({ key: scope.clientKey, created: scope.createdAt })?.count ?? 1),
    );
  }

  /** Nothing to do: the rows live exactly as long as their session row (see the purge). */
  async renew(): Promise<void> {}

  forget(clientKey: string): Promise<void> {
    return orUnavailable(BACKEND, () =>
      this.writes.run(() => {
        this.forgetClaims.run(clientKey);
        this.forgetCounts.run(clientKey);
      }),
    );
  }
}

/**
 * One round of the orphan purge on `db` (the caller holds the transaction); the first round reads
 * every row, for rows whose session ended before these triggers existed (a file of an older
 * version) or outside them; later rounds only the ended keys' rows. Exported for the tests.
 */
export function sessionGuardPurgeRound(db: SqliteDatabase): (now: number) => void {
  const prepare = (sql: (table: 'session_content_claims' | 'session_invalid_counts') => string) =>
    (['session_content_claims', 'session_invalid_counts'] as const).map((table) => db.prepare<{ now: number }>(sql(table)));
  const everything = prepare(ALL_ORPHANED);
  const ofEnded = prepare(ORPHANED_OF_ENDED);
  const forgetEnded = db.prepare<{ before: number }>(`DELETE FROM session_guard_ended WHERE ended_at <= @before`);
  let first = true;
  return (now) => {
    for (const statement of first ? everything : ofEnded) statement.run({ now });
    forgetEnded.run({ before: now - ENDED_KEPT_MS });
    first = false;
  };
}

/**
 * Deletes the state of sessions that are gone now and then, and then calls `afterRound` (the WAL
 * scrub: the expiry purge deletes sessions too); returns a function that stops it.
 */
export function startSessionGuardPurge(writes: WriteBatcher, afterRound: () => void = () => undefined): () => void {
  // A round that fails is left to the next: a new session never reads an old one's rows anyway.
  return startPeriodicPurge(writes, sessionGuardPurgeRound(writes.db), afterRound);
}
