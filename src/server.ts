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
import { SessionKeyPool } from './session/key-pool.js';
import { LowPriorityKeyGenerator } from './session/keygen-process.js';
import { keyWrapFor, warnIfKeysInTheClear } from './session/key-wrap-config.js';

export interface RunningServer {
  app: FastifyInstance;
  backends: Backends;
  log: Logger;
  /** The address actually bound (PORT=0 picks a free port). */
  url: string;
  keys: SessionKeyPool;
  /** SPEC §9: the consumer service, webhooks, and the hooks for metrics (lag, delivery results). */
  consumer: ConsumerSide;
  stop(): Promise<void>;
}

export interface ServerOptions {
  /**
   * "worker" when this process is one of several sharing the port: the primary then says
   * "listening" once every worker does, so this process says "worker listening".
   */
  role?: 'single' | 'worker';
}

export async function startServer(
  config: Config,
  log: Logger = createLogger(config.logLevel),
  options: ServerOptions = {},
): Promise<RunningServer> {
  const backends = await openBackends(config, log);
  const bits = config.sessionKeyBits;
  const keys = new SessionKeyPool({
    size: config.keyPoolSize,
    background: new LowPriorityKeyGenerator(bits),
    onDemand: () => generateSessionKeyPair(bits),
    // Together the processes may generate on demand on every core, not more: the rest waits its turn.
    onDemandConcurrency: Math.max(1, Math.floor(availableParallelism() / config.workers)),
    maxWaiting: config.hardening.keyWaitLimit,
    log,
  });
  const keyWrap = keyWrapFor(config.hardening);
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
    messages: backends.messages,
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
    trustProxy: config.trustProxy,
    corsOrigins: config.corsOrigins,
    keyTagSecret: await resolveLogTagSecret(config.hardening, backends.installationSecrets, log),
    requestTimeoutSeconds: config.hardening.requestTimeoutSeconds,
    consumerApi: consumer.api,
    log,
  });
  const address = await app.listen({ host: config.host, port: config.port });
  log.info(
    { url: address, directory: backends.description.directory, store: backends.description.store },
    options.role === 'worker' ? 'worker listening' : 'listening',
  );
  // After listening, so start-up is not slowed; the generator runs at the lowest priority anyway.
  keys.start();

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await app.close();
      await consumer.stop();
      await keys.stop();
      await backends.close();
    })());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log.info({ signal }, 'stopping');
      void stop().then(() => process.exit(0));
    });
  }
  return { app, backends, log, url: address, keys, consumer, stop };
}
