/**
 * The operator dashboard's data (SPEC §12): totals read back from the same metrics /metrics
 * serves, a history of answers by code (one point every HISTORY_STEP_MS, the last minutes), the
 * devices seen and the recent error answers. Nothing here holds a payload, a private key or a
 * client key: only counts, backend and consumer names, fixed answer strings and key-free reasons.
 */
import type { OperatorEvent, OperatorEvents } from './events.js';
import { metricNames } from './metrics.js';
import { parsePrometheusText, total, type Sample } from './prometheus-text.js';

export const HISTORY_STEP_MS = 5000;
/** 15 minutes of points. */
export const HISTORY_POINTS = 180;

export interface HistoryPoint {
  /** Start of the interval, ISO 8601. */
  at: string;
  /** Answers in the interval by §1 code. */
  byCode: Record<string, number>;
}

export interface DashboardSummary {
  version: string;
  startedAt: string;
  workers: number;
  directory: string;
  store: string;
  requests: { total: number; byCode: Record<string, number>; byOperation: Record<string, number> };
  messagesStored: number;
  duplicates: number;
  invalidEnvelopes: number;
  sessionsCreated: number;
  logouts: number;
  rateLimited: number;
  overloaded: number;
  devicesSeen: number;
  keyPoolAvailable: number;
  backends: Record<string, 'up' | 'down'>;
  consumerLag: Record<string, number>;
  webhookDeliveries: Record<string, number>;
  history: HistoryPoint[];
  historyStepSeconds: number;
  recentErrors: ReadonlyArray<Extract<OperatorEvent, { type: 'error' }>>;
}

export interface DashboardSource {
  metricsText(): Promise<string>;
  events: OperatorEvents;
  info: { version: string; workers: number; directory: string; store: string };
}

function byLabel(samples: readonly Sample[], name: string, label: string): Record<string, number> {
  const result: Record<string, number> = {};
  for (const s of samples) {
    if (s.name !== name) continue;
    const key = s.labels[label] ?? '';
    result[key] = (result[key] ?? 0) + s.value;
  }
  return result;
}

export class Dashboard {
  private readonly startedAt = new Date().toISOString();
  /** Cumulative answers by code at the start of each interval. */
  private readonly marks: Array<{ at: number; byCode: Record<string, number> }> = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly source: DashboardSource) {}

  /** Takes the first mark now and one every HISTORY_STEP_MS. */
  async start(): Promise<void> {
    await this.mark();
    this.timer = setInterval(() => void this.mark().catch(() => undefined), HISTORY_STEP_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  private async mark(): Promise<void> {
    const samples = parsePrometheusText(await this.source.metricsText());
    this.marks.push({ at: Date.now(), byCode: byLabel(samples, metricNames.requests, 'code') });
    if (this.marks.length > HISTORY_POINTS) this.marks.shift();
  }

  async summary(): Promise<DashboardSummary> {
    const samples = parsePrometheusText(await this.source.metricsText());
    const byCode = byLabel(samples, metricNames.requests, 'code');
    const ends = [...this.marks.slice(1), { at: Date.now(), byCode }];
    const history = this.marks.map((mark, i): HistoryPoint => {
      const end = ends[i]!.byCode;
      const delta: Record<string, number> = {};
      for (const code of Object.keys(end)) {
        const value = (end[code] ?? 0) - (mark.byCode[code] ?? 0);
        if (value > 0) delta[code] = value;
      }
      return { at: new Date(mark.at).toISOString(), byCode: delta };
    });
    const backends: Record<string, 'up' | 'down'> = {};
    for (const [name, up] of Object.entries(byLabel(samples, metricNames.backendUp, 'backend'))) backends[name] = up >= 1 ? 'up' : 'down';
    return {
      ...this.source.info,
      startedAt: this.startedAt,
      requests: {
        total: total(samples, metricNames.requests),
        byCode,
        byOperation: byLabel(samples, metricNames.requests, 'op'),
      },
      messagesStored: total(samples, metricNames.messagesStored),
      duplicates: total(samples, metricNames.duplicates),
      invalidEnvelopes: total(samples, metricNames.invalidEnvelopes),
      sessionsCreated: total(samples, metricNames.sessionsCreated),
      logouts: total(samples, metricNames.requests, { op: 'logout', code: '0' }),
      rateLimited: total(samples, metricNames.rateLimited),
      overloaded: total(samples, metricNames.overloaded),
      devicesSeen: this.source.events.devicesSeen(),
      keyPoolAvailable: total(samples, metricNames.keyPoolAvailable),
      backends,
      consumerLag: byLabel(samples, metricNames.consumerLag, 'consumer'),
      webhookDeliveries: byLabel(samples, metricNames.webhookDeliveries, 'result'),
      history,
      historyStepSeconds: HISTORY_STEP_MS / 1000,
      recentErrors: this.source.events.recentErrors(),
    };
  }
}
