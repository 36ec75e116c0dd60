/**
 * The shared request rate limit (src/store/rate-limits.ts) in Redis: one counter key per client
 * address (keys.rateLimit), living exactly as long as its window. One key per script, so it works
 * unchanged on a cluster (each address's counter lives on the master of its own slot).
 */
import type { RateLimitCounterStore, RateLimitHits } from '../../store/rate-limits.js';
import { orUnavailable } from '../unavailable.js';
import type { RedisClient } from './connection.js';
import type { RedisKeys } from './keys.js';

const BACKEND = 'redis';

/**
 * count-request-1: counts one request in a fixed window.
 *   KEYS[1]  the address's counter (keys.rateLimit)
 *   ARGV[1]  the window in milliseconds
 *   returns  { the count after this request, the milliseconds left in the window }
 * Steps: INCR; when that made the key, or it somehow has no expiry, PEXPIRE it; then PTTL. One
 * script, so no crash between INCR and PEXPIRE can leave a counter that never expires (an
 * address blocked for ever).
 */
const COUNT_REQUEST_SCRIPT = `
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if count == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return { count, ttl }
`;

type WithCountRequest = RedisClient & { countRequest(key: string, windowMs: number): Promise<[number, number]> };

export class RedisRateLimitStore implements RateLimitCounterStore {
  private readonly client: WithCountRequest;

  constructor(client: RedisClient, private readonly keys: RedisKeys) {
    if (!('countRequest' in client)) client.defineCommand('countRequest', { numberOfKeys: 1, lua: COUNT_REQUEST_SCRIPT });
    this.client = client as WithCountRequest;
  }

  hit(subject: string, windowMs: number): Promise<RateLimitHits> {
    return orUnavailable(BACKEND, async () => {
      const [count, ttl] = await this.client.countRequest(this.keys.rateLimit(subject), windowMs);
      return { count, resetsInMs: Math.max(0, ttl) };
    });
  }
}
