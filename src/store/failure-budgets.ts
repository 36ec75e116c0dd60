/**
 * SPEC §10, failure budgets: failures counted per subject (a client key, a client address) in
 * a fixed window, in the store, so every process and every instance shares them. Implemented
 * by the embedded store (src/backends/sqlite/failure-budgets.ts) and Redis
 * (src/backends/redis/failure-budgets.ts). Every method may throw BackendUnavailableError.
 */

/** A subject's failures in its current window. */
export interface FailureCount {
  subject: string;
  count: number;
  /** Milliseconds until the window ends and the count is forgotten. */
  resetsInMs: number;
}

export interface FailureCounterStore {
  /**
   * The current counts of these subjects, one read (subjects without failures are left out).
   * This is the only cost a request of a well-behaved device pays, so it never writes.
   */
  counts(subjects: readonly string[]): Promise<FailureCount[]>;
  /** Counts one failure for each subject; a subject's window starts at its first failure. */
  add(subjects: readonly string[], windowMs: number): Promise<void>;
}
