/**
 * SPEC §10, revocation: a session lives only while its device does. Every session's device is
 * looked up in the directory again at most DIRECTORY_RECHECK_SECONDS after the last look (0 =
 * on every request). The "last look" is a mark in the store (SessionRecheckStore), so every
 * process shares it, and each interval is drawn between half and all of the setting, so sessions
 * opened together do not all go back to the directory in the same second.
 */
import type { SessionRecheckStore } from '../store/session-rechecks.js';

/** Shortest share of the interval a mark may last: the jitter spreads rechecks over the other half. */
const JITTER_FLOOR = 0.5;

export class RevocationCheck {
  private readonly intervalMs: number;

  constructor(
    private readonly rechecks: SessionRecheckStore,
    intervalSeconds: number,
    private readonly random: () => number = Math.random,
  ) {
    this.intervalMs = intervalSeconds * 1000;
  }

  /** True when a submit must ask the directory first; with a positive interval, a store read and no directory. */
  async due(clientKey: string): Promise<boolean> {
    if (this.intervalMs === 0) return true;
    return this.rechecks.claimDue(clientKey, this.nextMs());
  }

  /** The device was just found in the directory (an auth, a finished recheck). */
  async checked(clientKey: string): Promise<void> {
    if (this.intervalMs === 0) return;
    await this.rechecks.checked(clientKey, this.nextMs());
  }

  /** A claimed recheck that could not be finished: the next request tries again. */
  async release(clientKey: string): Promise<void> {
    if (this.intervalMs === 0) return;
    await this.rechecks.release(clientKey);
  }

  /** Never longer than the interval, so a removal takes effect within it. */
  private nextMs(): number {
    return Math.max(1, Math.round(this.intervalMs * (JITTER_FLOOR + (1 - JITTER_FLOOR) * this.random())));
  }
}
