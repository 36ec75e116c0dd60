/**
 * Session key pairs made ahead of time (issue 5): an auth takes a ready pair in microseconds
 * instead of waiting 70–800 ms for RSA key generation. Pairs live in this process's memory only,
 * each handed out exactly once; when the pool is empty an auth waits for a pair made on demand.
 */
import type { Logger } from 'pino';
import type { KeyPairGenerator } from './keygen-process.js';
import type { SessionKeyPair, SessionKeySource } from './key-pair.js';

/** Issue 10: more auths wait for a key than KEY_WAIT_LIMIT allows; answered 503 with Retry-After. */
export class KeyWaitFullError extends Error {
  override name = 'KeyWaitFullError';

  constructor(readonly waiting: number) {
    super(`${waiting} auths already wait for a session key`);
  }
}

export interface KeyPoolOptions {
  /** Pairs to keep ready; 0 = every take() generates on demand. */
  size: number;
  /** The background supply: expected to be cheap for request handling (a low-priority thread). */
  background: KeyPairGenerator;
  /** Background generations at once. */
  backgroundConcurrency?: number;
  /** Generation for an auth that found the pool empty: at the normal priority, since someone waits. */
  onDemand: () => Promise<SessionKeyPair>;
  /**
   * On-demand generations at once. They run on libuv's pool at the normal priority, so an auth
   * storm on an empty pool could otherwise take every core from requests that need no new key.
   */
  onDemandConcurrency?: number;
  /** After a background failure, wait this long before trying again (no hot loop on a broken generator). */
  retryDelayMs?: number;
  /** Auths that may wait for a pair at once; past it take() fails with KeyWaitFullError. Default: no bound. */
  maxWaiting?: number;
  log?: Logger;
}

export interface KeyPoolStats {
  size: number;
  /** Pairs ready now. */
  ready: number;
  /** Auths waiting for a pair. */
  waiting: number;
  backgroundRunning: number;
  onDemandRunning: number;
  /** Pairs handed out straight from the pool. */
  fromPool: number;
  /** Pairs handed out to auths that had to wait. */
  afterWait: number;
}

interface Waiter {
  resolve(pair: SessionKeyPair): void;
  reject(error: unknown): void;
}

export class SessionKeyPool implements SessionKeySource {
  private readonly ready: SessionKeyPair[] = [];
  private readonly waiters: Waiter[] = [];
  private backgroundRunning = 0;
  private onDemandRunning = 0;
  private fromPool = 0;
  private afterWait = 0;
  private announcedFull = false;
  private drainNoted = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private started = false;
  private stopped = false;
  private readonly size: number;
  private readonly backgroundConcurrency: number;
  private readonly onDemandConcurrency: number;
  private readonly retryDelayMs: number;

  constructor(private readonly options: KeyPoolOptions) {
    this.size = Math.max(0, Math.floor(options.size));
    this.backgroundConcurrency = Math.max(1, options.backgroundConcurrency ?? 1);
    this.onDemandConcurrency = Math.max(1, options.onDemandConcurrency ?? 1);
    this.retryDelayMs = options.retryDelayMs ?? 1000;
  }

  /** Begins filling in the background. */
  start(): this {
    this.started = true;
    this.supply();
    return this;
  }

  take(): Promise<SessionKeyPair> {
    if (this.stopped) return Promise.reject(new Error('key pool stopped'));
    const pair = this.ready.pop();
    if (pair !== undefined) {
      this.fromPool += 1;
      this.supply();
      return Promise.resolve(pair);
    }
    if (this.size > 0 && !this.drainNoted) {
      // Once per drain, not per auth: an auth storm must not become a log storm.
      this.drainNoted = true;
      this.options.log?.warn({ size: this.size }, 'key pool empty; generating session keys on demand');
    }
    // Bounded, so an auth flood costs 503s rather than unbounded memory and latency.
    if (this.waiters.length >= (this.options.maxWaiting ?? Infinity)) return Promise.reject(new KeyWaitFullError(this.waiters.length));
    return new Promise<SessionKeyPair>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.supply();
    });
  }

  stats(): KeyPoolStats {
    return {
      size: this.size,
      ready: this.ready.length,
      waiting: this.waiters.length,
      backgroundRunning: this.backgroundRunning,
      onDemandRunning: this.onDemandRunning,
      fromPool: this.fromPool,
      afterWait: this.afterWait,
    };
  }

  /** Drops every ready pair, fails waiting auths and stops the generator; nothing is left running. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.ready.length = 0;
    const waiters = this.waiters.splice(0);
    for (const waiter of waiters) waiter.reject(new Error('key pool stopped'));
    await this.options.background.close();
  }

  /** Starts whatever generations are wanted now: on demand for waiting auths, in the background to refill. */
  private supply(): void {
    if (this.stopped) return;
    while (this.onDemandRunning < this.onDemandConcurrency && this.waiters.length > this.onDemandRunning) {
      this.onDemandRunning += 1;
      this.options.onDemand().then(
        (pair) => {
          this.onDemandRunning -= 1;
          this.deliver(pair);
        },
        (error: unknown) => {
          this.onDemandRunning -= 1;
          // This generation was started for the longest-waiting auth; that one learns it failed.
          this.waiters.shift()?.reject(error);
          this.supply();
        },
      );
    }
    if (!this.started || this.retryTimer !== undefined) return;
    while (this.backgroundRunning < this.backgroundConcurrency && this.ready.length + this.backgroundRunning < this.size) {
      this.backgroundRunning += 1;
      this.options.background.generate().then(
        (pair) => {
          this.backgroundRunning -= 1;
          this.deliver(pair);
        },
        (error: unknown) => {
          this.backgroundRunning -= 1;
          if (this.stopped) return;
          this.options.log?.error({ err: error }, 'background session key generation failed; retrying');
          this.retryTimer = setTimeout(() => {
            this.retryTimer = undefined;
            this.supply();
          }, this.retryDelayMs);
          this.retryTimer.unref();
        },
      );
    }
  }

  /** Each pair goes to exactly one place: the longest-waiting auth, else the pool, else nowhere. */
  private deliver(pair: SessionKeyPair): void {
    if (this.stopped) return;
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      this.afterWait += 1;
      waiter.resolve(pair);
    } else if (this.ready.length < this.size) {
      this.ready.push(pair);
      this.drainNoted = false;
      if (this.ready.length === this.size && !this.announcedFull) {
        this.announcedFull = true;
        this.options.log?.info({ size: this.size }, 'key pool ready');
      }
    }
    // A pair made on demand for an auth that was served meanwhile, with the pool full, is dropped.
    this.supply();
  }
}
