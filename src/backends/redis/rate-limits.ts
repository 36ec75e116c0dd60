/**
 * The shared request rate limit (src/store/rate-limits.ts) in Redis: one counter key per client
 * address (keys.rateLimit), living exactly as long as its window. One key per script, so it works
 * unchanged on a cluster (each address's counter lives on the master of its own slot).
 */
import type { RateLimitCounterStore, RateLimitHits } from '../../store/rate-limits.js';
import { orUnavailable } from '../unavailable.js';
import type { RedisClient } from './connection.js';
import type { RedisKeys } from './keys.js';
import { script, scriptsOn, type ScriptRunner } from './scripts.js';

const BACKEND = 'redis';

export class RedisRateLimitStore implements RateLimitCounterStore {
  /** scripts/countRequest-1.lua */
  private readonly countRequest: ScriptRunner;

  constructor(
    client: RedisClient,
    private readonly keys: RedisKeys,
  ) {
    this.countRequest = script(scriptsOn(client), 'countRequest');
  }

  hit(subject: string, windowMs: number): Promise<RateLimitHits> {
    return orUnavailable(BACKEND, async () => {
      const [count, ttl] = (await this.countRequest([this.keys.rateLimit(subject)], [windowMs])) as [number, number];
      return { count, resetsInMs: Math.max(0, ttl) };
    });
  }
}
