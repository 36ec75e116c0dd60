/**
 * WORKERS (issue 5): that many server processes on one port with node:cluster. All state is in
 * the store, so any process serves any session. The primary only forks, restarts a worker that
 * dies, says "listening" once every worker listens, and passes SIGTERM/SIGINT on for a clean stop.
 * WORKERS=1 runs the server in this process, without cluster.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import type { Config } from './config/config.js';
import { createLogger } from './logger.js';

/** What a worker tells the primary once it listens. */
interface ListeningMessage {
  type: 'sms:listening';
  url: string;
  directory: string;
  store: string;
}

function isListeningMessage(value: unknown): value is ListeningMessage {
  return typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'sms:listening';
}

/** A worker that lived at least this long was healthy: the restart delay starts over. */
const HEALTHY_LIFETIME_MS = 10_000;
const FIRST_RESTART_DELAY_MS = 100;
const MAX_RESTART_DELAY_MS = 10_000;
/** Past this, a worker that will not stop on SIGTERM is killed. */
const STOP_DEADLINE_MS = 30_000;

export async function run(config: Config): Promise<void> {
  if (cluster.isPrimary && config.workers > 1) {
    runPrimary(config, createLogger(config.logLevel));
    return;
  }
  // Loaded only where it serves: the primary keeps out Fastify, the backends and their clients.
  const { startServer } = await import('./server.js');
  if (config.workers <= 1) {
    await startServer(config);
  } else {
    const server = await startServer(config, undefined, { role: 'worker' });
    const message: ListeningMessage = {
      type: 'sms:listening',
      url: server.url,
      directory: server.backends.description.directory,
      store: server.backends.description.store,
    };
    process.send?.(message);
  }
}

function runPrimary(config: Config, log: Logger): void {
  const wanted = config.workers;
  const listening = new Set<Worker>();
  const bornAt = new Map<Worker, number>();
  const restartTimers = new Set<NodeJS.Timeout>();
  let announced = false;
  let stopping = false;
  let restartDelay = FIRST_RESTART_DELAY_MS;

  const fork = (): void => {
    const worker = cluster.fork();
    bornAt.set(worker, Date.now());
    worker.on('message', (message: unknown) => {
      if (!isListeningMessage(message)) return;
      listening.add(worker);
      if (!announced && listening.size === wanted) {
        announced = true;
        log.info(
          {
            url: message.url,
            workers: [...listening].map((w) => w.process.pid),
            directory: message.directory,
            store: message.store,
          },
          'listening',
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
    if (workers.length === 0) process.exit(exitCode);
    for (const worker of workers) worker.process.kill('SIGTERM');
    const deadline = setTimeout(() => {
      log.error('workers did not stop in time; killing them');
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
      process.exit(1);
    }, STOP_DEADLINE_MS);
    deadline.unref();
    cluster.on('exit', () => {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(exitCode);
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
      log.error({ worker: worker.process.pid, code, signal }, 'worker failed to start; stopping');
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
      log.info({ signal }, 'stopping');
      stopAll(0);
    });
  }

  log.info({ workers: wanted }, 'starting workers');
  for (let i = 0; i < wanted; i++) fork();
}
