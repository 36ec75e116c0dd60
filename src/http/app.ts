/**
 * The HTTP surface: Fastify with the two body parsers of SPEC §1, the /api route, health
 * probes, and one error handler. Protocol decisions are the ProtocolService's, not this file's.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import cors from '@fastify/cors';
import formbody from '@fastify/formbody';
import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import type { Logger } from 'pino';
import { answers, type Code } from '../protocol/answers.js';
import { API_PATH, dispatch, isAnswer } from '../protocol/request.js';
import type { ProtocolService } from '../protocol/service.js';
import type { BackendHandle } from '../store/store.js';
import type { RateLimitCounterStore } from '../store/rate-limits.js';
import { sharedRateLimitStore } from './shared-rate-limit.js';
import { handleError, sendAnswer } from './errors.js';
import { multipartFields, urlencodedFields } from './form-fields.js';
import { keyTag } from './key-tag.js';
import { HttpProblem } from './problems.js';
import { registerLoadShedding } from './overload.js';
import { registerReadiness } from './readiness.js';
import { CONSUMER_API_PREFIX, consumerApi, type ConsumerApiOptions } from '../consumer/routes.js';
import { acceptAnything, apiRouteSchema, registerOpenApi, serializeAsIs } from '../operator/openapi.js';
import { countRequests } from '../operator/request-metrics.js';

export { keyTag } from './key-tag.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The SPEC §1 code of the answer, for the request log line. */
    outcomeCode: Code | undefined;
    /** The answer's `message` when it is a fixed string of answers.ts, and its `error` reason: for the metrics. */
    outcomeMessage: string | undefined;
    outcomeReason: string | undefined;
    operation: string | undefined;
    /** A short HMAC of the client key (key-tag.ts): logs never hold the whole key. */
    keyTag: string | undefined;
  }
}

/** Methods answered 405 on /api (POST is the route itself). */
const OTHER_METHODS = ['GET', 'HEAD', 'PUT', 'DELETE', 'PATCH'] as const;
/** More parts than the protocol has fields is not a form of ours. */
const MAX_MULTIPART_PARTS = 16;

export interface AppOptions {
  service: ProtocolService;
  backends: readonly BackendHandle[];
  maxBodyBytes: number;
  /** Requests per client address per window on /api; 0 = no limit. */
  rateLimitMax: number;
  rateLimitWindowSeconds: number;
  /** SPEC §13: where the rate limit counts (the store every instance shares); absent = in this process only. */
  rateLimitStore?: RateLimitCounterStore;
  /** Fastify's trustProxy: false, a hop count, or the proxies' addresses (TRUST_PROXY). */
  trustProxy: boolean | number | string[];
  /** Browser origins allowed by CORS; empty or absent = none (no CORS headers, no preflight), `['*']` = any. */
  corsOrigins?: readonly string[];
  /** The key tag's HMAC secret, the same in every process (key-tag.ts); absent = a random one for this app. */
  keyTagSecret?: string;
  /** REQUEST_TIMEOUT_SECONDS: receiving the headers and the whole body; absent = Node's defaults. */
  requestTimeoutSeconds?: number;
  /** SPEC §9: the consumer API under /v1/; absent (API_TOKENS unset) = every /v1/ path is a 404. */
  consumerApi?: Omit<ConsumerApiOptions, 'keyTag'>;
  log: Logger;
  /** Past this event-loop lag, requests are shed with 503 (MAX_EVENT_LOOP_DELAY_MS); 0 or absent = never. */
  maxEventLoopDelayMs?: number;
  /** The server's version, for the OpenAPI document. */
  version?: string;
}

/** How long a browser may cache a preflight answer, in seconds (Chromium caps it at 7200). */
const CORS_MAX_AGE_SECONDS = 3600;

/** Trust the nearest `hops` proxies: proxy-addr's meaning of a number. */
function trustHops(hops: number): (address: string, hop: number) => boolean {
  return (address, hop) => hop < hops;
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { service, backends, maxBodyBytes, log } = options;
  const tagSecret = options.keyTagSecret ?? randomBytes(32).toString('hex');
  // SPEC §11: Fastify turns Node's request timeout off; a client that trickles its headers or its
  // body is cut off after this long. Node checks the deadlines every connectionsCheckingInterval.
  const timeoutMs = options.requestTimeoutSeconds === undefined ? undefined : options.requestTimeoutSeconds * 1000;
  const app = Fastify({
    ...(timeoutMs === undefined
      ? {}
      : {
          requestTimeout: timeoutMs,
          http: {
            headersTimeout: timeoutMs,
            requestTimeout: timeoutMs,
            connectionsCheckingInterval: Math.min(1000, timeoutMs),
          },
        }),
    loggerInstance: log as FastifyBaseLogger,
    // One line per request, written by the onResponse hook below with the outcome code.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: maxBodyBytes,
    // A hop count as the function Fastify makes of one: its types take no number.
    trustProxy: typeof options.trustProxy === 'number' ? trustHops(options.trustProxy) : options.trustProxy,
    // Unique across the worker processes and restarts, so a request id finds one request's lines.
    genReqId: () => randomUUID(),
    // While stopping, src/http/readiness.ts answers §1's 503 instead of Fastify's own body.
    return503OnClosing: false,
    // Malformed URLs and the like: the same JSON shape as every other answer.
    frameworkErrors: (error, request, reply) => {
      sendAnswer(reply, answers.badRequest('malformed request'));
    },
  });

  // A client that half-closes after sending its request (shutdown(SHUT_WR), `nc -N`, some embedded
  // HTTP stacks) still gets its answer. Node's default (httpAllowHalfOpen false) aborts a request
  // still awaiting I/O when the client's FIN arrives and ends the socket unanswered: auths and
  // submits that wait for a store write lost their answers that way, while stopping or not.
  // With it on, Node marks the pending response as the connection's last and ends after it.
  (app.server as typeof app.server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;

  app.decorateRequest('outcomeCode', undefined);
  app.decorateRequest('outcomeMessage', undefined);
  app.decorateRequest('outcomeReason', undefined);
  app.decorateRequest('operation', undefined);
  app.decorateRequest('keyTag', undefined);
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) => sendAnswer(reply, answers.noRoute()));
  // Before any route, so every route registered with a schema is in /openapi.json.
  await registerOpenApi(app, options.version ?? '0.0.0');
  await registerLoadShedding(app, options.maxEventLoopDelayMs ?? 0);
  countRequests(app);

  const corsOrigins = options.corsOrigins ?? [];
  if (corsOrigins.length > 0) {
    // Registered before the rate limit and the size check, so a browser can read their 429/413 answers too.
    await app.register(cors, {
      origin: corsOrigins.includes('*') ? '*' : [...corsOrigins],
      methods: ['POST'],
      // A browser client needs Retry-After to back off; it is not a CORS-safelisted header.
      exposedHeaders: ['Retry-After'],
      maxAge: CORS_MAX_AGE_SECONDS,
      strictPreflight: true,
    });
  }

  // Only the two formats of SPEC §1: no JSON or text parser, so those are 415.
  app.removeAllContentTypeParsers();
  await app.register(formbody, { bodyLimit: maxBodyBytes });
  await app.register(multipart, {
    limits: {
      fieldNameSize: 100,
      fieldSize: maxBodyBytes,
      fields: MAX_MULTIPART_PARTS,
      parts: MAX_MULTIPART_PARTS,
      files: 1,
    },
  });

  if (options.rateLimitMax > 0) {
    await app.register(rateLimit, {
      global: false,
      max: options.rateLimitMax,
      timeWindow: options.rateLimitWindowSeconds * 1000,
      // A store that fails lets the request through uncounted (fail open; shared-rate-limit.ts says why).
      ...(options.rateLimitStore === undefined ? {} : { store: sharedRateLimitStore(options.rateLimitStore, log), skipOnError: true }),
      errorResponseBuilder: (request, context) =>
        new HttpProblem(answers.tooManyRequests(Math.max(1, Math.ceil(context.ttl / 1000)))),
    });
  }

  app.addHook('onRequest', async (request) => {
    // Multipart is streamed past Fastify's bodyLimit, so an announced oversize body is refused here.
    const declared = Number(request.headers['content-length'] ?? 0);
    if (declared > maxBodyBytes) throw HttpProblem.bodyTooLarge();
  });

  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      {
        method: request.method,
        // The route's pattern where there is one (/v1/sessions/<client key> must not log the key),
        // and never the query string: it is not ours to log (a client may put anything in it).
        url: request.routeOptions.url ?? request.url.split('?', 1)[0],
        status: reply.statusCode,
        code: request.outcomeCode,
        op: request.operation,
        key: request.keyTag,
        ms: Math.round(reply.elapsedTime * 10) / 10,
      },
      'request',
    );
  });

  const apiRouteConfig = { rateLimit: options.rateLimitMax > 0 ? {} : (false as const) };
  const apiDocumentation = { schema: apiRouteSchema, validatorCompiler: acceptAnything, serializerCompiler: serializeAsIs };
  app.post(API_PATH, { config: apiRouteConfig, ...apiDocumentation }, async (request, reply) => {
    const fields = request.isMultipart() ? await multipartFields(request, maxBodyBytes) : urlencodedFields(request.body);
    const operation = dispatch(fields);
    if (isAnswer(operation)) return sendAnswer(reply, operation);
    request.operation = operation.op;
    request.keyTag = keyTag(operation.key, tagSecret);
    // request.ip is the peer, or the address TRUST_PROXY's proxies forwarded (SPEC §10).
    const context = { address: request.ip };
    const outcome =
      operation.op === 'auth'
        ? await service.auth(operation.key, { ...context, secret: operation.secret })
        : operation.op === 'logout'
          ? await service.logout(operation.key, { ...context, secret: operation.secret })
          : await service.submit(operation.key, operation.message, context);
    if (outcome.detail !== undefined) request.log.debug({ reason: outcome.detail }, 'envelope refused');
    return sendAnswer(reply, outcome.answer);
  });

  app.route({
    method: [...OTHER_METHODS],
    url: API_PATH,
    schema: { hide: true },
    handler: (request, reply) => sendAnswer(reply.header('allow', 'POST'), answers.methodNotAllowed()),
  });

  if (options.consumerApi !== undefined) await app.register(consumerApi, { ...options.consumerApi, keyTag: (key: string) => keyTag(key, tagSecret), prefix: CONSUMER_API_PREFIX });

  app.get('/healthz', (request, reply) => sendAnswer(reply, { status: 200, body: { message: 'ok', code: 0 } }));

  registerReadiness(app, backends);

  return app;
}
