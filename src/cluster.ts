/**
 * WORKERS (issue 5): that many server processes on one port with node:cluster. All state is in
 * the store, so any process serves any session. The primary only forks, restarts a worker that
 * dies, says "listening" once every worker listens, and passes SIGTERM/SIGINT on for a clean stop.
 * WORKERS=1 runs the server in this process, without cluster.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { ConfigError, type Config } from './config/config.js';
import { createLogger } from './logger.js';
import type { PrimaryOperator } from './operator/host.js';

/** What a worker tells the primary once it listens. */
interface ListeningMessage {
  type: 'sms:listening';
  url: string;
  directory: string;
  store: string;
  /** The OpenAPI document of the main port, for the primary's operator listener. */
  openApi: Record<string, unknown>;
}

/** What a worker tells the primary when a setting keeps it from starting (one line, no stack trace). */
interface StartFailedMessage {
  type: 'sms:start-failed';
  line: string;
}

function isStartFailedMessage(value: unknown): value is StartFailedMessage {
  return typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'sms:start-failed';
}

function isListeningMessage(value: unknown): value is ListeningMessage {
  return typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'sms:listening';
}

/** A worker that lived at least this long was healthy: the restart delay starts over. */
const HEALTHY_LIFETIME_MS = 10_000;
const FIRST_RESTART_DELAY_MS = 100;
const MAX_RESTART_DELAY_MS = 10_000;
/** Past the workers' own shutdown deadline and this margin, a worker that will not stop is killed. */
const STOP_MARGIN_MS = 5_000;

export async function run(config: Config): Promise<void> {
  if (cluster.isPrimary && config.workers > 1) {
    const log = createLogger(config.logLevel);
    // Loaded only here: the primary keeps out the protocol, the backends and their clients.
    const { PrimaryOperator } = await import('./operator/host.js');
    runPrimary(config, log, new PrimaryOperator(config, log));
    return;
  }
  const { startServer } = await import('./server.js');
  if (config.workers <= 1) {
    const log = createLogger(config.logLevel);
    const server = await startServer(config, log, { role: 'operator-here' });
    const { startLocalOperator } = await import('./operator/host.js');
    const { description } = server.backends;
    let operator;
    try {
      operator = await startLocalOperator(config, log, server.openApi, { workers: 1, ...description });
    } catch (error) {
      await server.stop();
      throw error;
    }
    if (operator !== undefined) server.alsoClose(() => operator.close());
    log.info({ url: server.url, admin: operator?.url, directory: description.directory, store: description.store }, 'listening');
  } else {
    try {
      const server = await startServer(config, undefined, { role: 'worker' });
      const message: ListeningMessage = {
        type: 'sms:listening',
        url: server.url,
        directory: server.backends.description.directory,
        store: server.backends.description.store,
        openApi: server.openApi,
      };
      process.send?.(message);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      process.send?.({ type: 'sms:start-failed', line: error.message } satisfies StartFailedMessage, () => process.exit(2));
    }
  }
}

function runPrimary(config: Config, log: Logger, operator: PrimaryOperator): void {
  const wanted = config.workers;
  const listening = new Set<Worker>();
  const bornAt = new Map<Worker, number>();
  const restartTimers = new Set<NodeJS.Timeout>();
  let announced = false;
  let stopping = false;
  let restartDelay = FIRST_RESTART_DELAY_MS;
  let startFailure: string | undefined;
  const stopDeadlineMs = config.operator.shutdownTimeoutSeconds * 1000 + STOP_MARGIN_MS;

  const fork = (): void => {
    const worker = cluster.fork();
    bornAt.set(worker, Date.now());
    worker.on('message', (message: unknown) => {
      if (isStartFailedMessage(message)) startFailure ??= message.line;
      if (!isListeningMessage(message)) return;
      listening.add(worker);
      if (!announced && listening.size === wanted) {
        announced = true;
        const servedBy = { workers: wanted, directory: message.directory, store: message.store };
        operator.start(message.openApi, servedBy).then(
          (listener) => {
            log.info(
              {
                url: message.url,
                admin: listener?.url,
                workers: [...listening].map((w) => w.process.pid),
                directory: message.directory,
                store: message.store,
              },
              'listening',
            );
          },
          (error: unknown) => {
            if (error instanceof ConfigError) startFailure ??= error.message;
            else log.error({ err: error }, 'operator listener failed to start');
            stopAll(2);
          },
        );
      } else if (announced) {
        log.info({ worker: worker.process.pid }, 'replacement worker listening');
      }
    });
  };

  const stopAll = (exitCode: number): void => {
    if (stopping) return;
    stopping = true;
    for (const timer of restartTimers) clearTimeout(timer);
    restartTimers.clear();
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    if (workers.length === 0) {
      if (startFailure !== undefined) {
        process.stderr.write(`configuration error: ${startFailure}\n`);
        process.exit(2);
      }
      process.exit(exitCode);
    }
    for (const worker of workers) worker.process.kill('SIGTERM');
    const finish = (code: number): never => {
      if (startFailure !== undefined) {
        process.stderr.write(`configuration error: ${startFailure}\n`);
        process.exit(2);
      }
      if (code === 0) log.info('stopped');
      process.exit(code);
    };
    const deadline = setTimeout(() => {
      log.error('workers did not stop in time; killing them');
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
      finish(1);
    }, stopDeadlineMs);
    deadline.unref();
    cluster.on('exit', () => {
      if (Object.keys(cluster.workers ?? {}).length === 0) finish(exitCode);
    });
  };

  cluster.on('exit', (worker, code, signal) => {
    listening.delete(worker);
    const lived = Date.now() - (bornAt.get(worker) ?? Date.now());
    bornAt.delete(worker);
    if (stopping) return;
    if (!announced) {
      // A worker that cannot start now will not start on retry either (bad DATA_DIR, store down at boot):
      // fail like a single process would, instead of looping.
      if (startFailure === undefined) log.error({ worker: worker.process.pid, code, signal }, 'worker failed to start; stopping');
      stopAll(1);
      return;
    }
    restartDelay = lived >= HEALTHY_LIFETIME_MS ? FIRST_RESTART_DELAY_MS : Math.min(restartDelay * 2, MAX_RESTART_DELAY_MS);
    log.error({ worker: worker.process.pid, code, signal, restartInMs: restartDelay }, 'worker died; starting another');
    const timer = setTimeout(() => {
      restartTimers.delete(timer);
      if (!stopping) fork();
    }, restartDelay);
    restartTimers.add(timer);
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      log.info({ signal }, 'stopping');
      stopAll(0);
    });
  }

  log.info({ workers: wanted }, 'starting workers');
  for (let i = 0; i < wanted; i++) fork();
}
