/**
 * SPEC §10 in the embedded file: the failure budgets and the per-session recheck marks, in two
 * tables of their own beside `sessions` (whose layout existing readers know and which stays as
 * it is). Reads go through the reader connection; every write through the shared WriteBatcher.
 *
 *   failure_budgets  (subject TEXT PRIMARY KEY, failures INTEGER, window_ends_at INTEGER ms)
 *   session_rechecks (key TEXT PRIMARY KEY = the client key, due_at INTEGER ms)
 */
import type { FailureCount, FailureCounterStore } from '../../store/failure-budgets.js';
import type { SessionRecheckStore } from '../../store/session-rechecks.js';
import { orUnavailable } from '../unavailable.js';
import type { SqliteDatabase } from './database.js';
import { startPeriodicPurge } from './periodic-purge.js';
import type { WriteBatcher } from './write-batch.js';

const BACKEND = 'sqlite';

/** SPEC §10's tables, part of the embedded schema (database.ts creates them with the rest). */
export const CREDENTIAL_SCHEMA = `
    CREATE TABLE IF NOT EXISTS failure_budgets (
      subject        TEXT PRIMARY KEY,
      failures       INTEGER NOT NULL,
      window_ends_at INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS session_rechecks (
      key    TEXT PRIMARY KEY,
      due_at INTEGER NOT NULL
    );
`;

export class SqliteFailureCounterStore implements FailureCounterStore {
  private readonly countsQuery;
  private readonly countQuery;
  private readonly addQuery;

  constructor(db: SqliteDatabase, private readonly writes: WriteBatcher) {
    this.countsQuery = db.prepare<{ subjects: string; now: number }, { subject: string; failures: number; window_ends_at: number }>(
      `SELECT subject, failures, window_ends_at FROM failure_budgets
       WHERE subject IN (SELECT value FROM json_each(@subjects)) AND window_ends_at > @now`,
    );
    this.countQuery = db.prepare<{ subject: string; now: number }, { subject: string; failures: number; window_ends_at: number }>(
      `SELECT subject, failures, window_ends_at FROM failure_budgets WHERE subject = @subject AND window_ends_at > @now`,
    );
    // A window that has ended starts again at this failure.
    this.addQuery = writes.db.prepare(
      `INSERT INTO failure_budgets (subject, failures, window_ends_at) VALUES (@subject, 1, @endsAt)
       ON CONFLICT (subject) DO UPDATE SET
         failures       = CASE WHEN window_ends_at > @now THEN failures + 1 ELSE 1 END,
         window_ends_at = CASE WHEN window_ends_at > @now THEN window_ends_at ELSE @endsAt END`,
    );
  }

  counts(subjects: readonly string[]): Promise<FailureCount[]> {
    return orUnavailable(BACKEND, () => {
      const now = Date.now();
      // Issue 15: the one-subject case (the per-key budget alone, the default) is every request's
      // cost; a plain primary-key lookup spares it the JSON text and the json_each table.
      const rows =
        subjects.length === 1
          ? this.countQuery.all({ subject: subjects[0]!, now })
          : this.countsQuery.all({ subjects: JSON.stringify(subjects), now });
      return rows.map((row) => ({ subject: row.subject, count: row.failures, resetsInMs: row.window_ends_at - now }));
    });
  }

  add(subjects: readonly string[], windowMs: number): Promise<void> {
    return orUnavailable(BACKEND, () =>
      this.writes.run(() => {
        const now = Date.now();
        for (const subject of subjects) this.addQuery.run({ subject, endsAt: now + windowMs, now });
      }),
    );
  }
}

export class SqliteSessionRecheckStore implements SessionRecheckStore {
  private readonly dueQuery;
  private readonly checkedQuery;
  private readonly claimQuery;
  private readonly releaseQuery;

  constructor(db: SqliteDatabase, private readonly writes: WriteBatcher) {
    this.dueQuery = db.prepare<{ key: string }, { due_at: number }>(`SELECT due_at FROM session_rechecks WHERE key = @key`);
    this.checkedQuery = writes.db.prepare(
      `INSERT INTO session_rechecks (key, due_at) VALUES (@key, @dueAt) ON CONFLICT (key) DO UPDATE SET due_at = excluded.due_at`,
    );
    // Wins only when no other process moved the mark past now meanwhile: one winner per due recheck.
    this.claimQuery = writes.db.prepare(
      `INSERT INTO session_rechecks (key, due_at) VALUES (@key, @dueAt)
       ON CONFLICT (key) DO UPDATE SET due_at = excluded.due_at WHERE session_rechecks.due_at <= @now`,
    );
    this.releaseQuery = writes.db.prepare(`DELETE FROM session_rechecks WHERE key = @key`);
  }

  checked(key: string, ms: number): Promise<void> {
    return orUnavailable(BACKEND, () =>
      this.writes.run(() => {
        this.checkedQuery.run({ key, dueAt: Date.now() + ms });
      }),
    );
  }

  claimDue(key: string, ms: number): Promise<boolean> {
    return orUnavailable(BACKEND, async () => {
      // The read is the whole cost while the mark is in the future, which is almost always.
      const row = this.dueQuery.get({ key });
      if (row !== undefined && row.due_at > Date.now()) return false;
      return this.writes.run(() => {
        const now = Date.now();
        return this.claimQuery.run({ key, dueAt: now + ms, now }).changes === 1;
      });
    });
  }

  release(key: string): Promise<void> {
    return orUnavailable(BACKEND, () =>
      this.writes.run(() => {
        this.releaseQuery.run({ key });
      }),
    );
  }
}

/** Deletes rows that no longer mean anything; returns a function that stops it. */
export function startCredentialPurge(writes: WriteBatcher): () => void {
  const budgets = writes.db.prepare(`DELETE FROM failure_budgets WHERE window_ends_at <= ?`);
  // A missing mark means "due", exactly like a mark in the past, so deleting those changes nothing.
  const rechecks = writes.db.prepare(`DELETE FROM session_rechecks WHERE due_at <= ?`);
  return startPeriodicPurge(writes, (now) => {
    budgets.run(now);
    rechecks.run(now);
  });
}
