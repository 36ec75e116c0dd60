/**
 * The shared request rate limit (src/store/rate-limits.ts) in the embedded file: every worker
 * process of every instance on DATA_DIR writes the same table through its own WriteBatcher.
 *
 *   rate_limits (subject TEXT PRIMARY KEY = a client address, hits INTEGER, window_ends_at INTEGER ms)
 *
 * The table is made here (CREATE TABLE IF NOT EXISTS) rather than in database.ts: it is nobody
 * else's, and a file opened by an older version simply gains it. Ended windows are deleted by the
 * hits themselves, at most once a minute, so there is no timer to stop.
 */
import type { RateLimitCounterStore, RateLimitHits } from '../../store/rate-limits.js';
import { orUnavailable } from '../unavailable.js';
import { withBusyRetry } from './file-safety.js';
import { PURGE_INTERVAL_MS } from './periodic-purge.js';
import type { WriteBatcher } from './write-batch.js';

const BACKEND = 'sqlite';

const RATE_LIMIT_SCHEMA = `
    CREATE TABLE IF NOT EXISTS rate_limits (
      subject        TEXT PRIMARY KEY,
      hits           INTEGER NOT NULL,
      window_ends_at INTEGER NOT NULL
    );
`;

export class SqliteRateLimitStore implements RateLimitCounterStore {
  private readonly hitQuery;
  private readonly purgeQuery;
  private nextPurgeAt = 0;

  constructor(private readonly writes: WriteBatcher) {
    // The writer connection does not wait for the lock (busy_timeout 0), and every process of every
    // instance starts here at once: a read first (no lock once the table is there), then, only on a
    // fresh file, one IMMEDIATE transaction retried like database.ts's schema.
    const exists = writes.db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'rate_limits'`);
    if (exists.get() === undefined) withBusyRetry(() => writes.db.transaction(() => writes.db.exec(RATE_LIMIT_SCHEMA)).immediate());
    // A window that has ended starts again at this request; RETURNING gives the count in the same step.
    this.hitQuery = writes.db.prepare<{ subject: string; now: number; endsAt: number }, { hits: number; window_ends_at: number }>(
      `INSERT INTO rate_limits (subject, hits, window_ends_at) VALUES (@subject, 1, @endsAt)
       ON CONFLICT (subject) DO UPDATE SET
         hits           = CASE WHEN window_ends_at > @now THEN hits + 1 ELSE 1 END,
         window_ends_at = CASE WHEN window_ends_at > @now THEN window_ends_at ELSE @endsAt END
       RETURNING hits, window_ends_at`,
    );
    this.purgeQuery = writes.db.prepare(`DELETE FROM rate_limits WHERE window_ends_at <= ?`);
  }

  hit(subject: string, windowMs: number): Promise<RateLimitHits> {
    return orUnavailable(BACKEND, () =>
      this.writes.run(() => {
        const now = Date.now();
        if (now >= this.nextPurgeAt) {
          this.nextPurgeAt = now + PURGE_INTERVAL_MS;
          this.purgeQuery.run(now);
        }
        const row = this.hitQuery.get({ subject, now, endsAt: now + windowMs });
        if (row === undefined) throw new Error('rate_limits upsert returned no row');
        return { count: row.hits, resetsInMs: Math.max(0, row.window_ends_at - now) };
      }),
    );
  }
}
