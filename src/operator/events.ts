/**
 * What the dashboard shows besides metrics: which devices were seen (by key tag, a short hash,
 * never the key) and the recent error answers. A worker sends these to the cluster primary over
 * the cluster's IPC channel, where the operator listener runs; with WORKERS=1 they stay in the
 * process. Error events are capped per second, so a flood of bad requests cannot flood the channel.
 */
import cluster from 'node:cluster';

export type OperatorEvent =
  | { type: 'device'; tag: string }
  | { type: 'error'; at: string; op: string; status: number; code: number; message: string; reason: string | undefined };

interface EventMessage {
  type: 'sms:operator-event';
  event: OperatorEvent;
}

export function isOperatorEventMessage(value: unknown): value is EventMessage {
  return typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'sms:operator-event';
}

/** Error events a process passes on per second; the rest are dropped (they are still counted in /metrics). */
const MAX_ERROR_EVENTS_PER_SECOND = 20;
/** Device tags a process remembers having reported, so each is sent once. */
const MAX_REMEMBERED_TAGS = 100_000;

const reportedTags = new Set<string>();
let errorWindowStart = 0;
let errorsInWindow = 0;
let localSink: ((event: OperatorEvent) => void) | undefined;

/** Where events go in the process that runs the operator listener. */
export function receiveOperatorEventsHere(sink: ((event: OperatorEvent) => void) | undefined): void {
  localSink = sink;
}

export function reportOperatorEvent(event: OperatorEvent): void {
  if (event.type === 'device') {
    if (reportedTags.has(event.tag)) return;
    if (reportedTags.size >= MAX_REMEMBERED_TAGS) reportedTags.clear();
    reportedTags.add(event.tag);
  } else {
    const now = Date.now();
    if (now - errorWindowStart >= 1000) {
      errorWindowStart = now;
      errorsInWindow = 0;
    }
    if (++errorsInWindow > MAX_ERROR_EVENTS_PER_SECOND) return;
  }
  if (localSink !== undefined) localSink(event);
  else if (cluster.isWorker && process.connected) process.send?.({ type: 'sms:operator-event', event } satisfies EventMessage);
}

/** The dashboard's memory of events: devices seen since start, the last errors. */
export class OperatorEvents {
  private readonly devices = new Set<string>();
  private readonly errors: Array<Extract<OperatorEvent, { type: 'error' }>> = [];
  /** Past this many distinct devices the count is shown as "at least". */
  static readonly MAX_DEVICES = 1_000_000;
  static readonly RECENT_ERRORS = 50;

  add(event: OperatorEvent): void {
    if (event.type === 'device') {
      if (this.devices.size < OperatorEvents.MAX_DEVICES) this.devices.add(event.tag);
    } else {
      this.errors.push(event);
      if (this.errors.length > OperatorEvents.RECENT_ERRORS) this.errors.shift();
    }
  }

  devicesSeen(): number {
    return this.devices.size;
  }

  recentErrors(): ReadonlyArray<Extract<OperatorEvent, { type: 'error' }>> {
    return [...this.errors].reverse();
  }
}
