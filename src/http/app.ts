/**
 * The HTTP surface: Fastify with the two body parsers of SPEC §1, the /api route, health
 * probes, and one error handler. Protocol decisions are the ProtocolService's, not this file's.
 */
import { createHash, randomUUID } from 'node:crypto';
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
import { handleError, sendAnswer } from './errors.js';
import { multipartFields, urlencodedFields } from './form-fields.js';
import { HttpProblem } from './problems.js';
import { registerLoadShedding } from './overload.js';
import { registerReadiness } from './readiness.js';
import { acceptAnything, apiRouteSchema, registerOpenApi, serializeAsIs } from '../operator/openapi.js';
import { countRequests } from '../operator/request-metrics.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The SPEC §1 code of the answer, for the request log line. */
    outcomeCode: Code | undefined;
    /** The answer's `message` when it is a fixed string of answers.ts, and its `error` reason: for the metrics. */
    outcomeMessage: string | undefined;
    outcomeReason: string | undefined;
    operation: string | undefined;
    /** A short hash of the client key: logs never hold the whole key. */
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
  trustProxy: boolean;
  /** Browser origins allowed by CORS; empty or absent = none (no CORS headers, no preflight), `['*']` = any. */
  corsOrigins?: readonly string[];
  log: Logger;
  /** Past this event-loop lag, requests are shed with 503 (MAX_EVENT_LOOP_DELAY_MS); 0 or absent = never. */
  maxEventLoopDelayMs?: number;
  /** The server's version, for the OpenAPI document. */
  version?: string;
}

/** How long a browser may cache a preflight answer, in seconds (Chromium caps it at 7200). */
const CORS_MAX_AGE_SECONDS = 3600;

/** A short, stable tag for a client key, so log lines about one device can be found together. */
export function keyTag(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 12);
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { service, backends, maxBodyBytes, log } = options;
  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    // One line per request, written by the onResponse hook below with the outcome code.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: maxBodyBytes,
    trustProxy: options.trustProxy,
    // Unique across the worker processes and restarts, so a request id finds one request's lines.
    genReqId: () => randomUUID(),
    // While stopping, src/http/readiness.ts answers §1's 503 instead of Fastify's own body.
    return503OnClosing: false,
    // Malformed URLs and the like: the same JSON shape as every other answer.
    frameworkErrors: (error, request, reply) => {
      sendAnswer(reply, answers.badRequest('malformed request'));
    },
  });

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
        url: request.url,
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
    request.keyTag = keyTag(operation.key);
    const outcome =
      operation.op === 'auth'
        ? await service.auth(operation.key)
        : operation.op === 'logout'
          ? await service.logout(operation.key)
          : await service.submit(operation.key, operation.message);
    if (outcome.detail !== undefined) request.log.debug({ reason: outcome.detail }, 'envelope refused');
    return sendAnswer(reply, outcome.answer);
  });

  app.route({
    method: [...OTHER_METHODS],
    url: API_PATH,
    schema: { hide: true },
    handler: (request, reply) => sendAnswer(reply.header('allow', 'POST'), answers.methodNotAllowed()),
  });

  app.get('/healthz', (request, reply) => sendAnswer(reply, { status: 200, body: { message: 'ok', code: 0 } }));

  registerReadiness(app, backends);

  return app;
}
