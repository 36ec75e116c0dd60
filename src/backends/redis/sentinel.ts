/**
 * Redis Sentinel (SPEC §13): the ioredis options that find the primary through the sentinels
 * and follow it across a failover. Used by connection.ts's addressOf; the fail-fast rules there
 * (no offline queue, one retry, command timeout) stay as they are, so a request during the gap
 * gets 503, never a hang.
 *
 * Known pitfalls, and what handles each (docs/SCALING.md "Redis Sentinel and replicated acknowledgements"):
 * - After a failover the old primary comes back as a replica. A connection still open to it
 *   (or opened from a sentinel's stale answer) is refused writes with READONLY: reconnectOnError
 *   drops that connection and asks the sentinels again; the command that met READONLY fails with
 *   503 (it was not executed, so the client's retry is safe). ioredis also checks the role of a
 *   node it connects to (`role: 'master'`) and moves on when it is a replica.
 * - A primary that is killed leaves the connection waiting for TCP to notice: failoverDetector
 *   subscribes to the sentinels' +switch-master and reconnects to the new primary at once.
 * - All sentinels away: each round over them is retried a few times with a short backoff, then
 *   the connection's own reconnect backoff (reconnectDelay) takes over; commands fail fast
 *   meanwhile, because the client is not ready and there is no offline queue.
 * - ioredis gives a Sentinel connection up for good ("Connection is closed." to every command,
 *   forever) when its connector fails rather than its socket: all sentinels unreachable after the
 *   retry rounds, or the failover detector disconnecting while a reconnect is under way (seen in
 *   the drills: +switch-master arriving mid-reconnect). reviveWhenEnded starts such a connection
 *   again, with the same capped backoff, unless it was closed on purpose.
 */
import type { Redis, RedisOptions } from 'ioredis';
import type { SentinelConfig } from '../../config/redis-failover.js';

/** Rounds over every sentinel within one connection attempt before the attempt fails and is logged. */
const SENTINEL_ROUNDS_PER_ATTEMPT = 3;
const SENTINEL_RETRY_STEP_MS = 100;

/** ioredis's reconnectOnError: 1 = reconnect, and fail the command (it was refused, not run). */
export function reconnectOnReadonly(error: Error): 1 | false {
  return error.message.includes('READONLY') ? 1 : false;
}

export function sentinelRetryDelay(round: number): number | null {
  return round > SENTINEL_ROUNDS_PER_ATTEMPT ? null : round * SENTINEL_RETRY_STEP_MS;
}

/**
 * The options that replace host and port. REDIS_PASSWORD (`password`) is the data nodes'
 * password, which the primary and its replicas share; REDIS_SENTINEL_PASSWORD the sentinels'.
 */
export function sentinelOptions(sentinel: SentinelConfig, password: string | undefined, commandTimeoutMs: number): RedisOptions {
  return {
    sentinels: sentinel.sentinels.map(({ host, port }) => ({ host, port })),
    name: sentinel.name,
    role: 'master',
    password,
    sentinelPassword: sentinel.password,
    sentinelRetryStrategy: sentinelRetryDelay,
    sentinelCommandTimeout: commandTimeoutMs,
    failoverDetector: true,
    reconnectOnError: reconnectOnReadonly,
  };
}

/** For the start-up log: the master name and the sentinels, never a password. */
export function describeSentinel(sentinel: SentinelConfig): string {
  const list = sentinel.sentinels.map(({ host, port }) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`)).join(',');
  return `sentinel master "${sentinel.name}" via ${list}`;
}

/** Connections closed by the server itself (shutdown): not revived. */
const closedOnPurpose = new WeakSet<Redis>();

export function closingOnPurpose(client: Redis): void {
  closedOnPurpose.add(client);
}

/** Connects `client` again whenever ioredis ends it without being asked to (see the header). */
export function reviveWhenEnded(client: Redis, delay: (attempt: number) => number): void {
  let attempts = 0;
  client.on('ready', () => {
    attempts = 0;
  });
  client.on('end', () => {
    if (closedOnPurpose.has(client)) return;
    attempts += 1;
    setTimeout(() => {
      if (client.status === 'end' && !closedOnPurpose.has(client)) client.connect().catch(() => undefined);
    }, delay(attempts)).unref();
  });
}
