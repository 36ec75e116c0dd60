/**
 * @fastify/rate-limit's `store` option, backed by a RateLimitCounterStore (src/store/rate-limits.ts),
 * so the /api rate limit is one count per client address across every worker and every instance
 * (SPEC §13) instead of one per process.
 *
 * The plugin's contract (node_modules/@fastify/rate-limit/index.js, v11): it constructs the store
 * with `new Store(globalOptions)`, calls `child(routeOptions)` once per route that has a
 * `config.rateLimit` object, then `incr(key, callback, timeWindow, max)` on every request with the
 * (IPv6 /64-normalised) address as `key`; the callback gets `{ current, ttl }`, ttl in ms left.
 * From that it makes the same headers and the same 429 (errorResponseBuilder in app.ts) as with
 * its own per-process store: the answers do not change, only where the count lives.
 *
 * A store that fails (the backend down): FAIL OPEN. The error is handed to the plugin, whose
 * `skipOnError: true` (set in app.ts) then lets the request through uncounted, where the protocol
 * code answers it, in that case with §1's 503 `unavailable` because the same store holds the
 * sessions. A 503 from the limiter itself would give the same answer for a down store and
 * would turn a limiter-only fault (a cluster node holding only some counters) into an outage;
 * letting a request through uncounted costs at most one window's limit while the store is
 * unreachable. Logged at warn, at most once per LOG_EVERY_MS, with the reason, never the address.
 */
import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { Logger } from 'pino';
import type { RateLimitCounterStore } from '../store/rate-limits.js';

/** A down store would otherwise log once per request. */
const LOG_EVERY_MS = 10_000;

export function sharedRateLimitStore(counter: RateLimitCounterStore, log: Logger): FastifyRateLimitStoreCtor {
  let lastLoggedAt = 0;
  const store: FastifyRateLimitStore = {
    incr(key, callback, timeWindow) {
      counter.hit(key, timeWindow).then(
        (hits) => callback(null, { current: hits.count, ttl: hits.resetsInMs }),
        (error: unknown) => {
          const now = Date.now();
          if (now - lastLoggedAt >= LOG_EVERY_MS) {
            lastLoggedAt = now;
            log.warn({ reason: error instanceof Error ? error.message : String(error) }, 'rate limit store unavailable: requests pass uncounted');
          }
          callback(error instanceof Error ? error : new Error(String(error)));
        },
      );
    },
    // Every route shares the one counter per address (the plugin keys by address only; /api is the one limited route).
    child: () => store,
  };
  // The plugin calls `new Store(options)`; a constructor that returns an object yields that object.
  return function SharedRateLimitStore() {
    return store;
  } as unknown as FastifyRateLimitStoreCtor;
}
