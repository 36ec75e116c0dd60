/**
 * Group commit for the embedded store. With synchronous=FULL every transaction costs an fsync,
 * and under load that, not the work, bounds submits per second. Writes queued during one turn
 * of the event loop therefore commit together in one IMMEDIATE transaction: one fsync for the
 * lot, and still no write is acknowledged before it is durable.
 */
import type { SqliteDatabase } from './database.js';

interface QueuedWrite {
  write: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export class WriteBatcher {
  private queue: QueuedWrite[] = [];
  private scheduled = false;

  constructor(private readonly db: SqliteDatabase) {}

  /** Runs `write` inside the next group transaction; resolves once that transaction has committed. */
  run<T>(write: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ write, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    const batch = this.queue;
    this.queue = [];
    this.scheduled = false;
    const outcomes: Outcome[] = [];
    try {
      this.db
        .transaction(() => {
          for (const item of batch) {
            // One write's error (a statement-level failure) must not undo the others' work.
            try {
              outcomes.push({ ok: true, value: item.write() });
            } catch (error) {
              outcomes.push({ ok: false, error });
            }
          }
        })
        .immediate();
    } catch (error) {
      // The transaction itself failed (busy past the timeout, disk full, closed): nothing committed.
      for (const item of batch) item.reject(error);
      return;
    }
    batch.forEach((item, index) => {
      const outcome = outcomes[index]!;
      if (outcome.ok) item.resolve(outcome.value);
      else item.reject(outcome.error);
    });
  }
}
