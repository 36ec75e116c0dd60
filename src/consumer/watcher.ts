/**
 * Wakes long-polls and the webhook dispatcher when the log grows, whichever process (or server
 * instance) stored the message: it asks the store for the log's head every POLL_MS while someone
 * waits. One cheap query per process per interval, on both stores, and nothing to set up
 * (no pub/sub connection, works the same on Redis Cluster).
 */
import type { MessageLog } from '../store/message-log.js';

/** SPEC §9 asks a long-poll to answer within about 250 ms of a store write. */
export const POLL_MS = 100;

interface Waiter {
  beyond: number;
  wake: () => void;
}

export class LogWatcher {
  private readonly waiters = new Set<Waiter>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly log: MessageLog) {}

  /** Resolves once the log's head is past `sequence`, after `ms`, or when the watcher closes. */
  waitBeyond(sequence: number, ms: number): Promise<void> {
    if (this.closed || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter: Waiter = {
        beyond: sequence,
        wake: () => {
          clearTimeout(timeout);
          this.waiters.delete(waiter);
          resolve();
        },
      };
      const timeout = setTimeout(waiter.wake, ms);
      this.waiters.add(waiter);
      this.schedule();
    });
  }

  /** Answers every waiter now (the server is stopping). */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const waiter of [...this.waiters]) waiter.wake();
  }

  private schedule(): void {
    if (this.timer !== undefined || this.closed || this.waiters.size === 0) return;
    this.timer = setTimeout(() => void this.poll(), POLL_MS);
  }

  private async poll(): Promise<void> {
    try {
      const head = await this.log.head();
      for (const waiter of [...this.waiters]) if (head > waiter.beyond) waiter.wake();
    } catch {
      // The store is away: waiters time out as usual, and the next poll tries again.
    } finally {
      this.timer = undefined;
      this.schedule();
    }
  }
}
