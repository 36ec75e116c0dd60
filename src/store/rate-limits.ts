/**
 * The request rate limit of /api (RATE_LIMIT_MAX per RATE_LIMIT_WINDOW_SECONDS per client
 * address) counted in the store, so every worker process and every instance behind a load
 * balancer shares one count per address (SPEC §13). Implemented by the embedded file
 * (src/backends/sqlite/rate-limits.ts) and Redis (src/backends/redis/rate-limits.ts); plugged
 * into @fastify/rate-limit by src/http/shared-rate-limit.ts. Every method may throw
 * BackendUnavailableError.
 */

/** A subject's requests in its current window. */
export interface RateLimitHits {
  /** Requests counted in this window, this one included. */
  count: number;
  /** Milliseconds until the window ends and the count starts again at zero. */
  resetsInMs: number;
}

export interface RateLimitCounterStore {
  /**
   * Counts one request of `subject` (a client address) in a fixed window of `windowMs` that
   * starts at the subject's first request, and returns the count so far: one atomic step, so two
   * processes counting at once never both see the same count.
   */
  hit(subject: string, windowMs: number): Promise<RateLimitHits>;
}
