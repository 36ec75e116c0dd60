/**
 * The embedded file's housekeeping loop, one shape for every table that keeps rows past their
 * meaning (expired sessions and messages, ended failure windows, orphaned guard state): now and
 * then, one write through the WriteBatcher deletes them.
 */
import type { WriteBatcher } from './write-batch.js';

/** How often rows that no longer mean anything are deleted. */
export const PURGE_INTERVAL_MS = 60_000;

/**
 * Every PURGE_INTERVAL_MS, runs `round(now)` in one write, then `afterRound`. A busy or closed
 * database is left to the next round: readers ignore such rows anyway. Returns a function that stops it.
 */
export function startPeriodicPurge(writes: WriteBatcher, round: (now: number) => void, afterRound: () => void = () => undefined): () => void {
  const timer = setInterval(() => {
    const now = Date.now();
    writes
      .run(() => round(now))
      .then(afterRound)
      .catch(() => undefined);
  }, PURGE_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
