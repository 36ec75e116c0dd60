/** Wires configuration, backends, the protocol service and the HTTP surface together. */
import { availableParallelism } from 'node:os';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { openBackends, type Backends } from './backends/index.js';
import type { Config } from './config/config.js';
import { startConsumerSide, type ConsumerSide } from './consumer/index.js';
import { FailureBudget, RevocationCheck, type CredentialRules } from './credentials/index.js';
import { Directory } from './directory/directory.js';
import { buildApp } from './http/app.js';
import { resolveLogTagSecret } from './http/key-tag.js';
import { createLogger } from './logger.js';
import { ProtocolService } from './protocol/service.js';
import { SessionHardening } from './protocol/session-hardening.js';
import { DEFAULT_KEYS_PER_SESSION, SessionKeyCache } from './session/key-cache.js';
import { generateSessionKeyPair } from './session/key-pair.js';
import { DurableKeyPool } from './session/durable-key-pool.js';
import { SessionKeyPool } from './session/key-pool.js';
import { LowPriorityKeyGenerator } from './session/keygen-process.js';
import { keyWrapFor, warnIfKeysInTheClear } from './session/key-wrap-config.js';
import { listenQuietly } from './http/listen.js';
import { recordWebhookDelivery, sampleBackends, sampleConsumerLag, sampleKeyPool } from './operator/metrics.js';
import { openApiDocument } from './operator/openapi.js';
import { SERVER_VERSION } from './version.js';

export interface RunningServer {
  app: FastifyInstance;
  backends: Backends;
  log: Logger;
  /** The address actually bound (PORT=0 picks a free port). */
  url: string;
  keys: DurableKeyPool;
  /** SPEC §9: the consumer service, webhooks, and the hooks for metrics (lag, delivery results). */
  consumer: ConsumerSide;
  /** The OpenAPI document of this app's routes (SPEC §12), for the operator listener. */
  openApi: Record<string, unknown>;
  /** Something else to close when the server stops (before the backends), e.g. the operator listener. */
  alsoClose(close: () => Promise<void>): void;
  stop(): Promise<void>;
}

export interface ServerOptions {
  /**
   * "worker" when this process is one of several sharing the port: the primary then says
   * "listening" once every worker does, so this process says "worker listening".
   * "operator-here": the one process of WORKERS=1, whose caller starts the operator listener
   * and then says "listening" itself.
   */
  role?: 'single' | 'worker' | 'operator-here';
}

export async function startServer(
  config: Config,
  log: Logger = createLogger(config.logLevel),
  options: ServerOptions = {},
): Promise<RunningServer> {
  const backends = await openBackends(config, log);
  const bits = config.sessionKeyBits;
  const keyWrap = keyWrapFor(config.hardening);
  const generator = new LowPriorityKeyGenerator(bits);
  // Issue 15: the shared pool in the store; this process's own pool is only the on-demand fallback.
  const keys = new DurableKeyPool({
    store: backends.keyPool,
    bits,
    size: config.keyPoolSize,
    keyWrap,
    generator,
    fallback: new SessionKeyPool({
      size: 0,
      background: generator,
      onDemand: () => generateSessionKeyPair(bits),
      // Together the processes may generate on demand on every core, not more: the rest waits its turn.
      onDemandConcurrency: Math.max(1, Math.floor(availableParallelism() / config.workers)),
      maxWaiting: config.hardening.keyWaitLimit,
      log,
    }),
    log,
  });
  warnIfKeysInTheClear(config, log);
  const directory = new Directory(
    backends.usermeta,
    { uuidMetaKey: config.wpUuidMetaKey, devicesMetaKey: config.wpDevicesMetaKey, maxDeviceListBytes: config.hardening.maxDeviceListBytes },
    log,
  );
  const { credentials: c } = config;
  const credentials: CredentialRules = {
    secrets: { requireSecret: c.requireDeviceSecret },
    budget:
      c.failureLimitPerKey > 0 || c.failureLimitPerAddress > 0
        ? new FailureBudget(
            backends.failures,
            { limitPerKey: c.failureLimitPerKey, limitPerAddress: c.failureLimitPerAddress, windowSeconds: c.failureWindowSeconds },
            log,
          )
        : null,
    revocation: new RevocationCheck(backends.rechecks, c.directoryRecheckSeconds),
  };
  const service = new ProtocolService({
    credentials,
    directory,
    sessions: backends.sessions,
    accepted: backends.accepted,
    keys,
    settings: {
      userIdLength: config.userIdLength,
      sessionTtlSeconds: config.sessionTtlSeconds,
      messageTtlSeconds: config.messageTtlSeconds,
      minuteWindow: config.minuteWindow,
    },
    log,
    keyCache: new SessionKeyCache({
      maxSessions: config.keyCacheSessions,
      maxKeysPerSession: DEFAULT_KEYS_PER_SESSION,
      idleMs: config.sessionTtlSeconds * 1000,
      keyWrap,
    }),
    hardening: new SessionHardening({
      policy: { allowedEnc: config.hardening.allowedEnc, allowedOaepHash: config.hardening.allowedOaepHash },
      guard: backends.guard,
      invalidEnvelopeLimit: config.hardening.invalidEnvelopeLimit,
      keyWrap,
      log,
    }),
  });
  const consumer = startConsumerSide({ config: config.consumer, stores: backends.consumer, sessions: service, log });
  const app = await buildApp({
    service,
    backends: backends.handles,
    maxBodyBytes: config.maxBodyBytes,
    rateLimitMax: config.rateLimitMax,
    rateLimitWindowSeconds: config.rateLimitWindowSeconds,
    rateLimitStore: backends.rateLimits,
    trustProxy: config.trustProxy,
    corsOrigins: config.corsOrigins,
    keyTagSecret: await resolveLogTagSecret(config.hardening, backends.installationSecrets, log),
    requestTimeoutSeconds: config.hardening.requestTimeoutSeconds,
    consumerApi: consumer.api,
    // A child, so listenQuietly can quiet Fastify's own start-up lines without quieting this process.
    log: log.child({}),
    maxEventLoopDelayMs: config.operator.maxEventLoopDelayMs,
    version: SERVER_VERSION,
  });
  let address: string;
  try {
    address = await listenQuietly(app, { host: config.host, port: config.port, hostVariable: 'HOST', portVariable: 'PORT' });
  } catch (error) {
    await app.close();
    await backends.close();
    throw error;
  }
  const unsample = [
    // SPEC §9/§12: webhook attempts (only the process holding the delivery lease makes any) and bookmark lag.
    consumer.onDelivery((delivery) => recordWebhookDelivery(delivery.result)),
    sampleConsumerLag(() =>
      consumer.service.consumers().then(
        (bookmarks) => bookmarks.map(({ name, lag }) => ({ consumer: name, lag })),
        // The store is down: /metrics still answers, and secure_message_backend_up says why.
        () => [],
      ),
    ),
    sampleKeyPool(() => keys.available()),
    sampleBackends(() =>
      Promise.all(
        backends.handles.map((backend) =>
          backend.ping().then(
            () => ({ backend: backend.name, up: true }),
            () => ({ backend: backend.name, up: false }),
          ),
        ),
      ),
    ),
  ];
  // 'operator-here': the caller says "listening" itself, once the operator listener is up too.
  if (options.role !== 'operator-here') {
    log.info(
      { url: address, directory: backends.description.directory, store: backends.description.store },
      options.role === 'worker' ? 'worker listening' : 'listening',
    );
  }
  // After listening, so start-up is not slowed; the generator runs at the lowest priority anyway.
  keys.start();

  const closeAlso: Array<() => Promise<void>> = [];
  const deadlineMs = config.operator.shutdownTimeoutSeconds * 1000;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      for (const remove of unsample) remove();
      // In-flight requests finish; past the deadline their connections are cut so the stop completes.
      const deadline = setTimeout(() => {
        log.error({ deadlineSeconds: config.operator.shutdownTimeoutSeconds }, 'requests still running at the shutdown deadline; closing their connections');
        app.server.closeAllConnections();
      }, deadlineMs);
      try {
        await app.close();
      } finally {
        clearTimeout(deadline);
      }
      await consumer.stop();
      for (const close of closeAlso) await close();
      await keys.stop();
      await backends.close();
    })());
  const prefix = options.role === 'worker' ? 'worker ' : '';
  let signalled = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    // Not once: Ctrl-C under npm delivers SIGINT twice (the terminal's and npm's), and a second
    // signal must not kill the process mid-stop. A stop that hangs anyway ends at the deadline.
    process.on(signal, () => {
      if (signalled) return;
      signalled = true;
      log.info({ signal }, `${prefix}stopping`);
      const hardStop = setTimeout(() => {
        log.error('stop did not finish after the shutdown deadline; exiting');
        process.exit(1);
      }, deadlineMs + 5000);
      hardStop.unref();
      void stop().then(
        () => {
          log.info(`${prefix}stopped`);
          process.exit(0);
        },
        (error: unknown) => {
          log.error({ err: error }, 'stop failed');
          process.exit(1);
        },
      );
    });
  }
  return {
    app,
    backends,
    log,
    url: address,
    keys,
    consumer,
    openApi: openApiDocument(app),
    alsoClose: (close) => closeAlso.push(close),
    stop,
  };
}
