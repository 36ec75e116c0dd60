/** Wires configuration, backends, the protocol service and the HTTP surface together. */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { openBackends, type Backends } from './backends/index.js';
import type { Config } from './config/config.js';
import { Directory } from './directory/directory.js';
import { buildApp } from './http/app.js';
import { createLogger } from './logger.js';
import { ProtocolService } from './protocol/service.js';
import { onDemandKeySource } from './session/key-pair.js';

export interface RunningServer {
  app: FastifyInstance;
  backends: Backends;
  log: Logger;
  /** The address actually bound (PORT=0 picks a free port). */
  url: string;
  stop(): Promise<void>;
}

export async function startServer(config: Config, log: Logger = createLogger(config.logLevel)): Promise<RunningServer> {
  const backends = await openBackends(config, log);
  const directory = new Directory(
    backends.usermeta,
    { uuidMetaKey: config.wpUuidMetaKey, devicesMetaKey: config.wpDevicesMetaKey },
    log,
  );
  const service = new ProtocolService({
    directory,
    sessions: backends.sessions,
    messages: backends.messages,
    keys: onDemandKeySource(config.sessionKeyBits),
    settings: {
      userIdLength: config.userIdLength,
      sessionTtlSeconds: config.sessionTtlSeconds,
      messageTtlSeconds: config.messageTtlSeconds,
      minuteWindow: config.minuteWindow,
    },
    log,
  });
  const app = await buildApp({
    service,
    backends: backends.handles,
    maxBodyBytes: config.maxBodyBytes,
    rateLimitMax: config.rateLimitMax,
    rateLimitWindowSeconds: config.rateLimitWindowSeconds,
    trustProxy: config.trustProxy,
    corsOrigins: config.corsOrigins,
    log,
  });
  const address = await app.listen({ host: config.host, port: config.port });
  log.info({ url: address, directory: backends.description.directory, store: backends.description.store }, 'listening');

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await app.close();
      await backends.close();
    })());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log.info({ signal }, 'stopping');
      void stop().then(() => process.exit(0));
    });
  }
  return { app, backends, log, url: address, stop };
}
