/**
 * SPEC §9 retry timing: exponential backoff with jitter, the first retry within
 * WEBHOOK_FIRST_RETRY_SECONDS (at most 10 s), doubling, at most an hour between tries; a
 * receiver's Retry-After wins over the backoff (still at most an hour).
 */

/** SPEC §9: never longer than this between two tries. */
export const MAX_RETRY_DELAY_MS = 3_600_000;

/**
 * Delay before retry number `retry` (1 = the first retry): "equal jitter", a random point in the
 * upper half of the doubled step, so retries of many messages spread out yet still grow.
 */
export function backoffDelayMs(retry: number, firstRetrySeconds: number, random: () => number = Math.random): number {
  const ceiling = Math.min(MAX_RETRY_DELAY_MS, firstRetrySeconds * 1000 * 2 ** Math.max(0, retry - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** Retry-After as seconds or as an HTTP date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number = Date.now()): number | undefined {
  if (header === null) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Math.min(MAX_RETRY_DELAY_MS, Number(text) * 1000);
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.min(MAX_RETRY_DELAY_MS, Math.max(0, date - now));
}
