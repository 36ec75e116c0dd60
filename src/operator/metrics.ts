/**
 * SPEC §12: every metric of the server, defined here and nowhere else. Each worker process keeps
 * its own values in `registry`; the cluster primary (src/operator/listener.ts) asks every worker
 * for them and serves one aggregated view (prom-client's AggregatorRegistry). With WORKERS=1 the
 * one process serves its own registry.
 *
 * Labels hold only small, fixed sets of values (an operation, a §1 code, a backend name, a result
 * word, a consumer's configured name): never a client key, a user id or anything from a payload.
 */
import cluster from 'node:cluster';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DeliveryResult } from '../consumer/webhook/dispatcher.js';

/** The one registry of this process. */
export const registry = new Registry();

/** Prefix of every metric of ours; Node's process metrics keep prom-client's own names. */
const PREFIX = 'secure_message_';

/** The `op` label: SPEC §1's three operations, and `none` for /api requests refused before dispatch. */
export type MetricOperation = 'auth' | 'logout' | 'submit' | 'none';

export const metricNames = {
  requests: `${PREFIX}requests_total`,
  requestDuration: `${PREFIX}request_duration_seconds`,
  messagesStored: `${PREFIX}messages_stored_total`,
  duplicates: `${PREFIX}duplicates_total`,
  invalidEnvelopes: `${PREFIX}invalid_envelopes_total`,
  sessionsCreated: `${PREFIX}sessions_created_total`,
  keyPoolAvailable: `${PREFIX}key_pool_available`,
  backendUp: `${PREFIX}backend_up`,
  rateLimited: `${PREFIX}rate_limited_total`,
  webhookDeliveries: `${PREFIX}webhook_deliveries_total`,
  consumerLag: `${PREFIX}consumer_lag`,
  overloaded: `${PREFIX}overloaded_total`,
} as const;

const requests = new Counter({
  name: metricNames.requests,
  help: 'Requests to /api by operation and SPEC §1 answer code',
  labelNames: ['op', 'code'] as const,
  registers: [registry],
});

const requestDuration = new Histogram({
  name: metricNames.requestDuration,
  help: 'Time from receiving a /api request to sending its answer, by operation',
  labelNames: ['op'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

const messagesStored = new Counter({
  name: metricNames.messagesStored,
  help: 'Submits answered "delivered"',
  registers: [registry],
});
const duplicates = new Counter({
  name: metricNames.duplicates,
  help: 'Submits answered "duplicate"',
  registers: [registry],
});
const invalidEnvelopes = new Counter({
  name: metricNames.invalidEnvelopes,
  help: 'Submits answered "invalid message"',
  registers: [registry],
});
const sessionsCreated = new Counter({
  name: metricNames.sessionsCreated,
  help: 'Auths that created a session',
  registers: [registry],
});
const rateLimited = new Counter({
  name: metricNames.rateLimited,
  help: 'Requests answered 429 "too many requests"',
  registers: [registry],
});
const overloaded = new Counter({
  name: metricNames.overloaded,
  help: 'Requests shed with 503 because the event loop lagged',
  registers: [registry],
});

/** What a webhook delivery attempt came to (SPEC §9), in the dispatcher's own words. */
export type WebhookResult = DeliveryResult['result'];
const webhookDeliveries = new Counter({
  name: metricNames.webhookDeliveries,
  help: 'Webhook delivery attempts by result: delivered (2xx), failed (will be tried again), given_up (past WEBHOOK_MAX_AGE_SECONDS)',
  labelNames: ['result'] as const,
  registers: [registry],
});

/** Sources of gauge values read at scrape time; each area registers its own. */
type Sampler<T> = () => T | Promise<T>;
const keyPoolSamplers: Array<Sampler<number>> = [];
const backendSamplers: Array<Sampler<ReadonlyArray<{ backend: string; up: boolean }>>> = [];
const consumerLagSamplers: Array<Sampler<ReadonlyArray<{ consumer: string; lag: number }>>> = [];

new Gauge({
  name: metricNames.keyPoolAvailable,
  help: 'Session key pairs ready in the shared key pool (issue 15: in the store, one pool for every process and instance)',
  // Every process counts the same shared pool: the same number, not one to add up.
  aggregator: 'max',
  registers: [registry],
  async collect() {
    const values = await Promise.all(keyPoolSamplers.map((sample) => sample()));
    this.set(values.reduce((sum, value) => sum + value, 0));
  },
});

new Gauge({
  name: metricNames.backendUp,
  help: '1 when the backend answers a ping, 0 when not (the lowest over the worker processes)',
  labelNames: ['backend'] as const,
  // Down in any process is down.
  aggregator: 'min',
  registers: [registry],
  async collect() {
    this.reset();
    for (const states of await Promise.all(backendSamplers.map((sample) => sample()))) {
      for (const { backend, up } of states) this.set({ backend }, up ? 1 : 0);
    }
  },
});

new Gauge({
  name: metricNames.consumerLag,
  help: 'Message log entries after a consumer bookmark (SPEC §9)',
  labelNames: ['consumer'] as const,
  // Every process reads the same store: the same number, not one to add up.
  aggregator: 'max',
  registers: [registry],
  async collect() {
    this.reset();
    for (const lags of await Promise.all(consumerLagSamplers.map((sample) => sample()))) {
      for (const { consumer, lag } of lags) this.set({ consumer }, lag);
    }
  },
});

collectDefaultMetrics({ register: registry });

/** A worker answers the primary's requests for its metrics (only the registry above). */
if (cluster.isWorker) {
  AggregatorRegistry.setRegistries([registry]);
  new AggregatorRegistry();
}

/** The outcome of one /api request, as the HTTP layer saw it. */
export interface RequestOutcome {
  op: MetricOperation;
  code: number;
  /** The answer's `message` when it is one of §1's fixed strings (never a payload). */
  message: string | undefined;
  status: number;
  seconds: number;
}

/** Fixed strings that tell the counters apart (SPEC §1); the answers themselves live in answers.ts. */
export interface OutcomeWords {
  delivered: string;
  duplicate: string;
  invalidMessage: string;
}

/** Counts one /api request. */
export function recordRequest(outcome: RequestOutcome, words: OutcomeWords): void {
  requests.inc({ op: outcome.op, code: String(outcome.code) });
  requestDuration.observe({ op: outcome.op }, outcome.seconds);
  if (outcome.status === 429) rateLimited.inc();
  if (outcome.op === 'auth' && outcome.code === 0) sessionsCreated.inc();
  if (outcome.op !== 'submit') return;
  if (outcome.message === words.delivered) messagesStored.inc();
  else if (outcome.message === words.duplicate) duplicates.inc();
  else if (outcome.message === words.invalidMessage) invalidEnvelopes.inc();
}

/** Counts one request shed under load. */
export function recordOverload(): void {
  overloaded.inc();
}

/** For the webhook sender (SPEC §9): one delivery attempt and what it came to. */
export function recordWebhookDelivery(result: WebhookResult): void {
  webhookDeliveries.inc({ result });
}

/** Registers a source of `secure_message_key_pool_available`; returns a function that removes it. */
export function sampleKeyPool(sampler: Sampler<number>): () => void {
  return register(keyPoolSamplers, sampler);
}

/** Registers a source of `secure_message_backend_up`. */
export function sampleBackends(sampler: Sampler<ReadonlyArray<{ backend: string; up: boolean }>>): () => void {
  return register(backendSamplers, sampler);
}

/**
 * For the consumer API (SPEC §9): registers a source of `secure_message_consumer_lag`, called at
 * each scrape with every bookmark's lag. `consumer` must be a bookmark name (§9's 1-64 of
 * [A-Za-z0-9._-]), never anything a device sent.
 */
export function sampleConsumerLag(sampler: Sampler<ReadonlyArray<{ consumer: string; lag: number }>>): () => void {
  return register(consumerLagSamplers, sampler);
}

function register<T>(list: T[], item: T): () => void {
  list.push(item);
  return () => {
    const index = list.indexOf(item);
    if (index >= 0) list.splice(index, 1);
  };
}
