/**
 * SPEC §9, the site's side, wired for one server process: the log watcher, the consumer service,
 * the /v1 API's options (when API_TOKENS is set), the webhook dispatcher (when WEBHOOK_URL is),
 * and the purge of log entries whose records are gone.
 *
 * For the operator's metrics (SPEC §12), `lag(name)` / `consumers()` give each bookmark's lag and
 * `onDelivery(listener)` every webhook attempt's result.
 */
import type { Logger } from 'pino';
import type { ConsumerStores } from '../store/message-log.js';
import type { Outcome } from '../protocol/service.js';
import type { ConsumerConfig } from './config.js';
import type { ConsumerApiOptions } from './routes.js';
import { ConsumerService } from './service.js';
import { TokenCheck } from './tokens.js';
import { LogWatcher } from './watcher.js';
import { WebhookDispatcher, type DeliveryResult } from './webhook/dispatcher.js';

/** How often each process purges log entries whose records have expired or been deleted. */
const PURGE_INTERVAL_MS = 60_000;

export interface ConsumerSide {
  service: ConsumerService;
  /** For buildApp, which adds the key tag; undefined while API_TOKENS is unset (the API is off). */
  api: Omit<ConsumerApiOptions, 'keyTag'> | undefined;
  /** undefined without WEBHOOK_URL. */
  webhooks: WebhookDispatcher | undefined;
  /** Every webhook attempt's outcome; nothing is ever called without WEBHOOK_URL. */
  onDelivery(listener: (result: DeliveryResult) => void): () => void;
  stop(): Promise<void>;
}

export interface ConsumerSideOptions {
  config: ConsumerConfig;
  stores: ConsumerStores;
  /** The protocol's logout path, for DELETE /v1/sessions/<key>. */
  sessions: { endSession(key: string): Promise<Outcome> };
  log: Logger;
}

export function startConsumerSide(options: ConsumerSideOptions): ConsumerSide {
  const { config, stores, sessions, log } = options;
  const watcher = new LogWatcher(stores.log);
  const service = new ConsumerService(stores, watcher);
  const webhooks =
    config.webhook === undefined
      ? undefined
      : new WebhookDispatcher({ config: config.webhook, log: stores.log, state: stores.webhook, watcher, logger: log });
  webhooks?.start();

  const purge = setInterval(() => {
    stores.log.purge().catch((error: unknown) => log.warn({ err: error }, 'message log purge failed; trying again later'));
  }, PURGE_INTERVAL_MS);
  purge.unref();

  return {
    service,
    api: config.apiTokens.length === 0 ? undefined : { tokens: new TokenCheck(config.apiTokens), service, watcher, sessions },
    webhooks,
    onDelivery: (listener) => webhooks?.onDelivery(listener) ?? (() => undefined),
    async stop() {
      clearInterval(purge);
      watcher.close();
      await webhooks?.stop();
    },
  };
}
