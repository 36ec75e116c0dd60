/**
 * SPEC §10 in Redis: failure budgets and per-session recheck marks (key names in keys.ts).
 * One key per command or script, so it works unchanged on a cluster.
 */
import type { FailureCount, FailureCounterStore } from '../../store/failure-budgets.js';
import type { SessionRecheckStore } from '../../store/session-rechecks.js';
import { orUnavailable } from '../unavailable.js';
import type { RedisClient } from './connection.js';
import type { RedisKeys } from './keys.js';

const BACKEND = 'redis';

/**
 * record-failure-1: counts one failure in a fixed window.
 *   KEYS[1]  the subject's counter (keys.failures)
 *   ARGV[1]  the window in milliseconds
 *   returns  the count after this failure
 * Steps: INCR; when that made the key, or it somehow has no expiry, PEXPIRE it. One script,
 * so no crash between the two can leave a counter that never expires (a permanent block).
 */
const RECORD_FAILURE_SCRIPT = `
local count = redis.call('INCR', KEYS[1])
if count == 1 or redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return count
`;

type WithRecordFailure = RedisClient & { recordFailure(key: string, windowMs: number): Promise<number> };

export class RedisFailureCounterStore implements FailureCounterStore {
  private readonly client: WithRecordFailure;

  constructor(client: RedisClient, private readonly keys: RedisKeys) {
    if (!('recordFailure' in client)) client.defineCommand('recordFailure', { numberOfKeys: 1, lua: RECORD_FAILURE_SCRIPT });
    this.client = client as WithRecordFailure;
  }

  counts(subjects: readonly string[]): Promise<FailureCount[]> {
    return orUnavailable(BACKEND, async () => {
      // Sent together: one round trip, whatever the number of subjects.
      const replies = await Promise.all(
        subjects.map(async (subject) => {
          const key = this.keys.failures(subject);
          const [count, ttl] = await Promise.all([this.client.get(key), this.client.pttl(key)]);
          return { subject, count: count === null ? 0 : Number(count), resetsInMs: ttl };
        }),
      );
      return replies.filter((reply) => reply.count > 0 && reply.resetsInMs > 0);
    });
  }

  add(subjects: readonly string[], windowMs: number): Promise<void> {
    return orUnavailable(BACKEND, async () => {
      await Promise.all(subjects.map((subject) => this.client.recordFailure(this.keys.failures(subject), windowMs)));
    });
  }
}

export class RedisSessionRecheckStore implements SessionRecheckStore {
  constructor(private readonly client: RedisClient, private readonly keys: RedisKeys) {}

  checked(key: string, ms: number): Promise<void> {
    return orUnavailable(BACKEND, async () => {
      await this.client.set(this.keys.recheck(key), '1', 'PX', Math.max(1, ms));
    });
  }

  /** `SET … NX PX`: the mark is gone exactly when the recheck is due, and only one SET wins it. */
  claimDue(key: string, ms: number): Promise<boolean> {
    return orUnavailable(BACKEND, async () => (await this.client.set(this.keys.recheck(key), '1', 'PX', Math.max(1, ms), 'NX')) === 'OK');
  }

  release(key: string): Promise<void> {
    return orUnavailable(BACKEND, async () => {
      await this.client.del(this.keys.recheck(key));
    });
  }
}
