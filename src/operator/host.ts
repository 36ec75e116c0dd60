/**
 * Where the operator listener runs: in the one server process (WORKERS=1), or in the cluster
 * primary, which asks every worker for its metrics (prom-client's AggregatorRegistry) and hears
 * the workers' dashboard events over the cluster's IPC channel.
 */
import cluster from 'node:cluster';
import type { Logger } from 'pino';
import { AggregatorRegistry } from 'prom-client';
import type { Config } from '../config/config.js';
import { SERVER_VERSION } from '../version.js';
import { isOperatorEventMessage, OperatorEvents, receiveOperatorEventsHere } from './events.js';
import { startOperatorListener, type OperatorListener } from './listener.js';
import { registry } from './metrics.js';

export interface ServedBy {
  workers: number;
  directory: string;
  store: string;
}

/** WORKERS=1: this process's own metrics and events. */
export async function startLocalOperator(
  config: Config,
  log: Logger,
  openApiDocument: Record<string, unknown>,
  servedBy: ServedBy,
): Promise<OperatorListener | undefined> {
  if (config.operator.adminPort === 0) return undefined;
  const events = new OperatorEvents();
  receiveOperatorEventsHere((event) => events.add(event));
  return startOperatorListener({
    settings: config.operator,
    metricsText: () => registry.metrics(),
    metricsContentType: registry.contentType,
    openApiDocument,
    events,
    info: { version: SERVER_VERSION, ...servedBy },
    log,
  });
}

/** The cluster primary's side: listens to the workers from the moment it is made. */
export class PrimaryOperator {
  private readonly aggregator = new AggregatorRegistry();
  private readonly events = new OperatorEvents();

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
  ) {
    cluster.on('message', (worker, message: unknown) => {
      if (isOperatorEventMessage(message)) this.events.add(message.event);
    });
  }

  async start(openApiDocument: Record<string, unknown>, servedBy: ServedBy): Promise<OperatorListener | undefined> {
    if (this.config.operator.adminPort === 0) return undefined;
    return startOperatorListener({
      settings: this.config.operator,
      metricsText: () => this.aggregator.clusterMetrics(),
      metricsContentType: this.aggregator.contentType,
      openApiDocument,
      events: this.events,
      info: { version: SERVER_VERSION, ...servedBy },
      log: this.log,
    });
  }
}
