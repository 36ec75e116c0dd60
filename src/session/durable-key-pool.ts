/**
 * Issue 15: the durable, shared session key pool. Pairs made ahead of time live in the store
 * (src/store/key-pool-store.ts), beside the sessions they become and in exactly the form a session
 * record stores (wrapped under KEY_ENCRYPTION_KEY when set), so:
 * - an auth takes one with a single atomic store step and does no crypto with it: the record
 *   gets the stored form as it is, the answer gets the public key;
 * - every process of every instance takes from the one pool, each entry exactly once;
 * - a restart (a deploy, a crash) starts with the pool as full as it was, so a reconnect storm
 *   right after it waits for no key generation.
 *
 * Every process runs one filler: while the shared pool holds fewer than KEY_POOL_SIZE entries of
 * this SESSION_KEY_BITS, it makes one pair at a time in its nice-19 helper process (which also
 * wraps it, so the event loop pays nothing) and adds it with a count-checked add: the pool never
 * holds more than KEY_POOL_SIZE, and when it fills, each other process wastes at most the one
 * pair it was making. A full pool is counted again every `pollMs` (so a burst of takes is not
 * slowed by refills), and at once when a take here found it empty. When the pool is empty an auth falls back to the in-process SessionKeyPool (on-demand
 * generation, bounded by KEY_WAIT_LIMIT: the 503 when too many wait).
 */
import type { Logger } from 'pino';
import type { SessionKeyBits } from '../config/config.js';
import type { KeyPoolStore, PooledKey } from '../store/key-pool-store.js';
import type { SessionKeySource, StoredKeyPair, TakenKeyPair } from './key-pair.js';
import type { SessionKeyPool } from './key-pool.js';
import { KeyUnwrapError, type KeyWrap } from './key-wrap.js';
import type { StoredKeyPairGenerator } from './keygen-process.js';

export interface DurableKeyPoolOptions {
  store: KeyPoolStore;
  bits: SessionKeyBits;
  /** KEY_POOL_SIZE: entries the shared pool is filled to; 0 = no shared pool (every auth generates). */
  size: number;
  keyWrap: KeyWrap;
  /** The background supply (the nice-19 helper process). */
  generator: StoredKeyPairGenerator;
  /** For an auth that finds the shared pool empty. Stopped (with its generator) by stop(). */
  fallback: SessionKeyPool;
  /** A full pool is counted again this often (other processes take from it too). */
  pollMs?: number;
  /** After a failed generation or store step, wait this long (no hot loop on a broken store). */
  retryDelayMs?: number;
  log?: Logger;
}

export interface DurableKeyPoolStats {
  size: number;
  /** Shared entries as last counted by this process (the metric asks the store itself). */
  ready: number;
  /** Auths of this process waiting for a pair generated on demand. */
  waiting: number;
  /** Pairs this process took from the shared pool. */
  fromPool: number;
  /** Pairs this process generated on demand because the shared pool was empty. */
  onDemand: number;
  /** Pairs this process added to the shared pool. */
  added: number;
  /** Entries this process took but could not use (wrapped under a key no longer configured). */
  discarded: number;
}

/** Entries skipped in one take (unopenable ones) before it falls back to generating. */
const MAX_SKIPPED_PER_TAKE = 8;

export class DurableKeyPool implements SessionKeySource {
  private known = 0;
  private fromPool = 0;
  private onDemand = 0;
  private added = 0;
  private discarded = 0;
  private announcedFull = false;
  private drainNoted = false;
  private unopenableNoted = false;
  private stopped = false;
  private started = false;
  private pauseTimer: NodeJS.Timeout | undefined;
  private wakePause: (() => void) | undefined;
  private readonly size: number;
  private readonly pollMs: number;
  private readonly retryDelayMs: number;

  constructor(private readonly options: DurableKeyPoolOptions) {
    this.size = Math.max(0, Math.floor(options.size));
    this.pollMs = options.pollMs ?? 1000;
    this.retryDelayMs = options.retryDelayMs ?? 1000;
    // Constructed before the server listens: the helper's spawn must not land in the first burst.
    if (this.size > 0) options.generator.warm?.();
  }

  /** Begins filling in the background (after the server listens: start-up is not slowed). */
  start(): this {
    if (this.started || this.stopped) return this;
    this.started = true;
    this.options.fallback.start();
    if (this.size > 0) void this.fill();
    return this;
  }

  async take(): Promise<TakenKeyPair> {
    if (this.stopped) throw new Error('key pool stopped');
    if (this.size > 0) {
      for (let skipped = 0; skipped < MAX_SKIPPED_PER_TAKE; skipped++) {
        const entry = await this.options.store.take(this.options.bits);
        if (entry === null) break;
        // The filler notices at its next count (pollMs): refilling waits until a burst is over
        // rather than competing with it, and a pool sized for the burst does not need it sooner.
        this.known = Math.max(0, this.known - 1);
        const pair = this.inCurrentForm(entry);
        if (pair === null) continue;
        this.fromPool += 1;
        this.drainNoted = false;
        return pair;
      }
      if (!this.drainNoted) {
        // Once per drain, not per auth: an auth storm must not become a log storm.
        this.drainNoted = true;
        this.options.log?.warn({ size: this.size }, 'key pool empty; generating session keys on demand');
      }
      // Empty: refilling starts now (at nice 19, so it takes only CPU that requests leave over).
      this.wake();
    }
    this.onDemand += 1;
    return this.options.fallback.take();
  }

  stats(): DurableKeyPoolStats {
    return {
      size: this.size,
      ready: this.known,
      waiting: this.options.fallback.stats().waiting,
      fromPool: this.fromPool,
      onDemand: this.onDemand,
      added: this.added,
      discarded: this.discarded,
    };
  }

  /** The shared pool's entries now (for secure_message_key_pool_available); the last count if the store does not answer. */
  async available(): Promise<number> {
    if (this.size === 0) return 0;
    try {
      this.known = await this.options.store.count(this.options.bits);
    } catch {
      // the store is down: /metrics still answers, and secure_message_backend_up says why
    }
    return this.known;
  }

  /** Stops filling and the helper process; waiting auths fail. Pooled entries stay in the store. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.wake();
    await this.options.fallback.stop();
    await this.options.generator.close();
  }

  /**
   * The stored form under the current key. An entry made before a KEY_ENCRYPTION_KEY rotation is
   * re-wrapped here (one decryption and encryption, only while such entries last; it opens with
   * KEY_ENCRYPTION_KEY_PREVIOUS); one no configured key opens is dropped (it was removed from the
   * store already) and null is returned.
   */
  private inCurrentForm(entry: PooledKey): StoredKeyPair | null {
    const { keyWrap } = this.options;
    if (entry.wrapTag === keyWrap.tag) return { publicKeyPem: entry.publicKeyPem, storedPrivateKey: entry.storedPrivateKey };
    try {
      const rewrapped = keyWrap.rewrap(entry.storedPrivateKey);
      return { publicKeyPem: entry.publicKeyPem, storedPrivateKey: rewrapped ?? entry.storedPrivateKey };
    } catch (error) {
      if (!(error instanceof KeyUnwrapError)) throw error;
      this.discarded += 1;
      if (!this.unopenableNoted) {
        this.unopenableNoted = true;
        this.options.log?.warn('pooled session keys open with no configured KEY_ENCRYPTION_KEY: discarded (run admin sessions rewrap after a rotation)');
      }
      return null;
    }
  }

  private async fill(): Promise<void> {
    const { store, bits, keyWrap, generator, log } = this.options;
    try {
      const discarded = await store.discardOtherSizes(bits);
      if (discarded > 0) log?.info({ discarded, bits }, 'key pool: entries of another SESSION_KEY_BITS discarded');
    } catch {
      // The store is down; the entries are never handed out anyway, and the next start tries again.
    }
    while (!this.stopped) {
      let count: number;
      try {
        count = await store.count(bits);
      } catch {
        await this.pause(this.retryDelayMs);
        continue;
      }
      this.known = count;
      if (count >= this.size) {
        if (!this.announcedFull) {
          this.announcedFull = true;
          log?.info({ size: this.size }, 'key pool ready');
        }
        await this.pause(this.pollMs);
        continue;
      }
      let pair: StoredKeyPair;
      try {
        pair = await generator.generateStored(keyWrap.exportOptions());
      } catch (error) {
        if (this.stopped) return;
        log?.error({ reason: error instanceof Error ? error.message : String(error) }, 'background session key generation failed; retrying');
        await this.pause(this.retryDelayMs);
        continue;
      }
      if (this.stopped) return;
      try {
        if (await store.add(bits, { ...pair, wrapTag: keyWrap.tag }, this.size)) {
          this.added += 1;
          this.known += 1;
        }
      } catch (error) {
        if (this.stopped) return;
        // The reason only: a driver's error object may carry the command's arguments, the key among them.
        log?.warn({ reason: error instanceof Error ? error.message : String(error) }, 'pooled session key not stored; retrying');
        await this.pause(this.retryDelayMs);
      }
    }
  }

  /** Waits `ms`, or less when woken (a take that found the pool empty, or stop). */
  private pause(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        if (this.pauseTimer !== undefined) clearTimeout(this.pauseTimer);
        this.pauseTimer = undefined;
        this.wakePause = undefined;
        resolve();
      };
      this.wakePause = done;
      this.pauseTimer = setTimeout(done, ms);
      this.pauseTimer.unref();
    });
  }

  private wake(): void {
    this.wakePause?.();
  }
}
