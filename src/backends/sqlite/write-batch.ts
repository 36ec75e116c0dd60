/**
 * Every write to the embedded store goes through here, for two reasons.
 *
 * Group commit: with synchronous=FULL every transaction costs an fsync, and under load that,
 * not the work, bounds submits per second. Writes queued during one turn of the event loop
 * commit together in one IMMEDIATE transaction: one fsync for the lot, and still no write is
 * acknowledged before it is durable.
 *
 * Waiting without blocking: several server processes share the file and its single write lock.
 * SQLite's own busy handler waits by sleeping the calling thread, which in Node is the event
 * loop, for 1, 2, 5 … 100 ms at a time. Given a connection with busy_timeout 0, the batcher
 * instead retries the transaction on a timer, so the process keeps serving meanwhile.
 */
import type { SqliteDatabase } from './database.js';

interface QueuedWrite {
  write: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** How long a batch may wait for the write lock before its writes fail (then answered 503). */
export const WRITE_LOCK_WAIT_MS = 5000;
/** Between two attempts to take the write lock. */
const RETRY_DELAY_MS = 1;

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_'));
}

export class WriteBatcher {
  private queue: QueuedWrite[] = [];
  private scheduled = false;
  /** When the oldest waiting write was first refused the lock; undefined while nobody waits. */
  private waitingSince: number | undefined;

  /** `db` is the connection writes run on; statements for them must be prepared on it. */
  constructor(readonly db: SqliteDatabase) {}

  /** Runs `write` inside the next group transaction; resolves once that transaction has committed. */
  run<T>(write: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ write, resolve: resolve as (value: unknown) => void, reject });
      this.schedule(false);
    });
  }

  private schedule(afterBusy: boolean): void {
    if (this.scheduled) return;
    this.scheduled = true;
    if (afterBusy) setTimeout(() => this.flush(), RETRY_DELAY_MS);
    else setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    let outcomes: Outcome[] = [];
    try {
      this.db
        .transaction(() => {
          // A retried transaction starts over: the rolled-back attempt's outcomes mean nothing.
          outcomes = [];
          for (const item of batch) {
            // One write's error (a statement-level failure) must not undo the others' work.
            try {
              outcomes.push({ ok: true, value: item.write() });
            } catch (error) {
              if (isBusy(error)) throw error;
              outcomes.push({ ok: false, error });
            }
          }
        })
        .immediate();
    } catch (error) {
      const now = Date.now();
      this.waitingSince ??= now;
      if (isBusy(error) && now - this.waitingSince < WRITE_LOCK_WAIT_MS) {
        // Nothing was committed; the batch waits at the front, joined by whatever comes meanwhile.
        this.queue = [...batch, ...this.queue];
        this.schedule(true);
        return;
      }
      this.waitingSince = undefined;
      for (const item of batch) item.reject(error);
      return;
    }
    this.waitingSince = undefined;
    batch.forEach((item, index) => {
      const outcome = outcomes[index]!;
      if (outcome.ok) item.resolve(outcome.value);
      else item.reject(outcome.error);
    });
  }
}
