/**
 * SPEC §9 signed webhooks: pushes every log entry to WEBHOOK_URL, in log order per device.
 *
 * Durable state is small and lives in the store (WebhookState): a delivered mark (every entry up
 * to it is delivered or given up) and a lease. One process of all workers and instances holds the
 * lease and delivers; the others wait to take over when it stops or dies (the lease expires after
 * LEASE_MS). A restart resumes after the mark, so nothing pending is lost or forgotten; what was
 * delivered past the mark before a crash is delivered again (at least once: receivers de-duplicate
 * by `webhook-id`, as Standard Webhooks asks).
 *
 * In memory, the holder keeps a window of up to WINDOW entries after the mark. Each device's
 * oldest undelivered entry is tried (up to CONCURRENCY at once); its next one waits for it, so a
 * device's messages arrive in log order while one failing device does not hold up the others,
 * until the window is full of entries behind it. Retries back off (backoff.ts) until
 * WEBHOOK_MAX_AGE_SECONDS after the message was stored; then the entry is given up, logged at
 * error level and counted.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { MessageLog, WebhookState } from '../../store/message-log.js';
import type { MessageRecord } from '../../store/store.js';
import type { WebhookConfig } from '../config.js';
import type { LogWatcher } from '../watcher.js';
import { backoffDelayMs, retryAfterMs } from './backoff.js';
import { signDelivery } from './signature.js';

/** How long a lease lasts without renewal; the holder renews it every third of this. */
export const LEASE_MS = 15_000;
const WINDOW = 1000;
const CONCURRENCY = 8;
/** After a store error, the next round waits this long. */
const ERROR_PAUSE_MS = 1000;
/** A store that stays down is logged once per this long, not once a second. */
const ERROR_LOG_INTERVAL_MS = 60_000;

/** SPEC §9 body `type`. */
export const WEBHOOK_EVENT_TYPE = 'message.stored';

/** What one attempt came to: for metrics (`secure_message_webhook_deliveries_total{result}`) and tests. */
export interface DeliveryResult {
  result: 'delivered' | 'failed' | 'given_up';
  /** The message id (the `webhook-id`). */
  id: string;
  /** 1 for the first try. */
  attempt: number;
  /** The receiver's HTTP status, when it answered. */
  status?: number;
}

interface Pending {
  sequence: number;
  record: MessageRecord | null;
  attempts: number;
  nextAt: number;
  inFlight: boolean;
  done: boolean;
}

export interface DispatcherOptions {
  config: WebhookConfig;
  log: MessageLog;
  state: WebhookState;
  watcher: LogWatcher;
  logger: Logger;
}

/** The webhook body of SPEC §9, as sent (and signed). */
export function webhookBody(record: MessageRecord, timestampSeconds: number): string {
  return JSON.stringify({ type: WEBHOOK_EVENT_TYPE, timestamp: new Date(timestampSeconds * 1000).toISOString(), data: record });
}

export class WebhookDispatcher {
  /** This process's claim on the lease. */
  private readonly owner = randomUUID();
  private readonly window = new Map<number, Pending>();
  private readonly listeners = new Set<(result: DeliveryResult) => void>();
  private readonly aborts = new Set<AbortController>();
  private holding = false;
  private lastClaim = 0;
  private mark = 0;
  private highest = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private running = false;
  private again = false;
  private watching = false;
  private stopped = false;
  private givenUpCount = 0;
  private lastErrorLog = 0;

  constructor(private readonly options: DispatcherOptions) {}

  /** Deliveries given up since this process started. */
  get givenUp(): number {
    return this.givenUpCount;
  }

  /** Called for every attempt's outcome; returns a function that unsubscribes. */
  onDelivery(listener: (result: DeliveryResult) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    this.wake(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const abort of this.aborts) abort.abort();
    if (this.holding) {
      this.holding = false;
      // Another worker may take over at once instead of after the lease runs out.
      await this.options.state.release(this.owner).catch(() => undefined);
    }
  }

  private emit(result: DeliveryResult): void {
    for (const listener of this.listeners) {
      try {
        listener(result);
      } catch (error) {
        this.options.logger.warn({ err: error }, 'webhook delivery listener failed');
      }
    }
  }

  private wake(delayMs: number): void {
    if (this.stopped) return;
    const at = Date.now() + Math.max(0, delayMs);
    if (this.timer !== undefined && this.timerAt <= at) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => void this.run(), Math.max(0, delayMs));
  }

  private async run(): Promise<void> {
    this.timer = undefined;
    this.timerAt = Infinity;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    try {
      this.wake(await this.round());
    } catch (error) {
      if (Date.now() - this.lastErrorLog >= ERROR_LOG_INTERVAL_MS) {
        this.lastErrorLog = Date.now();
        this.options.logger.warn({ err: error }, 'webhook dispatcher: store error, trying again every second');
      }
      this.wake(ERROR_PAUSE_MS);
    } finally {
      this.running = false;
      if (this.again) {
        this.again = false;
        this.wake(0);
      }
    }
  }

  /** One round: hold the lease, fill the window, start what is due, move the mark. Returns ms until the next round. */
  private async round(): Promise<number> {
    const { state, log } = this.options;
    const now = Date.now();
    if (!this.holding || now - this.lastClaim > LEASE_MS / 3) {
      const held = await state.claim(this.owner, LEASE_MS);
      this.lastClaim = now;
      if (!held) {
        this.holding = false;
        this.window.clear();
        return LEASE_MS / 3;
      }
      if (!this.holding) {
        this.holding = true;
        this.window.clear();
        this.mark = await state.delivered();
        this.highest = this.mark;
      }
    }

    if (this.window.size < WINDOW) {
      const entries = await log.entriesAfter(this.highest, WINDOW - this.window.size);
      if (entries.length > 0) {
        const records = await log.records(entries.map((entry) => entry.id));
        entries.forEach((entry, index) => {
          this.window.set(entry.sequence, { sequence: entry.sequence, record: records[index] ?? null, attempts: 0, nextAt: 0, inFlight: false, done: false });
        });
        this.highest = entries[entries.length - 1]!.sequence;
      }
    }

    let next = LEASE_MS / 3;
    const devicesSeen = new Set<string>();
    let inFlight = [...this.window.values()].filter((p) => p.inFlight).length;
    for (const pending of this.window.values()) {
      if (pending.done) continue;
      // A record deleted or expired before its delivery: nothing to send.
      if (pending.record === null) {
        pending.done = true;
        continue;
      }
      const device = `${pending.record.user_id}${pending.record.device_id}`;
      if (devicesSeen.has(device)) continue;
      devicesSeen.add(device);
      if (pending.inFlight) continue;
      if (pending.nextAt <= now && inFlight < CONCURRENCY) {
        inFlight++;
        void this.deliver(pending, pending.record);
      } else if (pending.nextAt > now) {
        next = Math.min(next, pending.nextAt - now);
      }
    }

    let mark = this.mark;
    for (const pending of this.window.values()) {
      if (!pending.done) break;
      mark = pending.sequence;
      this.window.delete(pending.sequence);
    }
    if (mark > this.mark) {
      if (await state.advance(this.owner, mark)) this.mark = mark;
      else {
        // The lease was lost (this process stalled past it): another holder resumes from the mark.
        this.holding = false;
        this.window.clear();
        return LEASE_MS / 3;
      }
    }

    if (!this.watching) {
      this.watching = true;
      void this.options.watcher.waitBeyond(this.highest, LEASE_MS).then(() => {
        this.watching = false;
        this.wake(0);
      });
    }
    return next;
  }

  private async deliver(pending: Pending, record: MessageRecord): Promise<void> {
    const { config, logger } = this.options;
    pending.inFlight = true;
    pending.attempts++;
    const attempt = pending.attempts;
    const abort = new AbortController();
    this.aborts.add(abort);
    const timeout = setTimeout(() => abort.abort(), config.timeoutSeconds * 1000);
    let status: number | undefined;
    let retryAfter: number | undefined;
    let reason: string | undefined;
    try {
      const timestamp = Math.floor(Date.now() / 1000);
      const body = webhookBody(record, timestamp);
      const response = await fetch(config.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...signDelivery(config.secret, record.id, timestamp, body) },
        body,
        redirect: 'manual',
        signal: abort.signal,
      });
      status = response.status;
      retryAfter = retryAfterMs(response.headers.get('retry-after'));
      // The receiver's answer is not ours to read; the connection is freed for the next delivery.
      await response.body?.cancel().catch(() => undefined);
    } catch (error) {
      reason = abort.signal.aborted ? 'timeout' : error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error);
    } finally {
      clearTimeout(timeout);
      this.aborts.delete(abort);
      pending.inFlight = false;
    }
    if (this.stopped) return;

    if (status !== undefined && status >= 200 && status < 300) {
      pending.done = true;
      logger.debug({ webhook: record.id, attempt, status }, 'webhook delivered');
      this.emit({ result: 'delivered', id: record.id, attempt, status });
    } else {
      const now = Date.now();
      const storedAt = Date.parse(record.received_at);
      const deadline = (Number.isNaN(storedAt) ? now : storedAt) + config.maxAgeSeconds * 1000;
      if (now >= deadline) {
        pending.done = true;
        this.givenUpCount++;
        logger.error(
          { webhook: record.id, attempts: attempt, status, reason, maxAgeSeconds: config.maxAgeSeconds },
          'webhook delivery given up: the message stays readable through the consumer API',
        );
        this.emit({ result: 'given_up', id: record.id, attempt, status });
      } else {
        const delay = retryAfter ?? backoffDelayMs(attempt, config.firstRetrySeconds);
        // The last try is at the deadline, so a message is given up only after WEBHOOK_MAX_AGE_SECONDS.
        pending.nextAt = Math.min(now + delay, deadline);
        logger.warn({ webhook: record.id, attempt, status, reason, retryInMs: pending.nextAt - now }, 'webhook delivery failed; will retry');
        this.emit({ result: 'failed', id: record.id, attempt, status });
      }
    }
    this.wake(0);
  }
}
