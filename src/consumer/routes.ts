/**
 * SPEC §9: the HTTP consumer API under /v1/, a Fastify plugin of its own (registered by app.ts
 * only when API_TOKENS is set; without it every /v1/ path is the server's 404). Parameters are
 * declared as JSON schemas (they also document the API); every answer has §1's shape; a bad
 * parameter is a 400 with a reason, never a 500.
 */
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { answers, ConsumerReason, type Answer } from '../protocol/answers.js';
import type { Outcome } from '../protocol/service.js';
import { handleError, sendAnswer } from '../http/errors.js';
import { HttpProblem } from '../http/problems.js';
import { CONSUMER_NAME_PATTERN } from './config.js';
import { PAGE_LIMIT, WAIT_SECONDS, type ConsumerService } from './service.js';
import type { TokenCheck } from './tokens.js';
import type { LogWatcher } from './watcher.js';


export interface ConsumerApiOptions {
  tokens: TokenCheck;
  service: ConsumerService;
  watcher: LogWatcher;
  /** DELETE /v1/sessions/<key>: the protocol's own logout path. */
  sessions: { endSession(key: string): Promise<Outcome> };
  /** The request log's key tag (an HMAC under the installation's secret: src/http/key-tag.ts). */
  keyTag: (key: string) => string;
}

/** Mount point of the consumer API. */
export const CONSUMER_API_PREFIX = '/v1';
/** A PUT body holds one cursor. */
const MAX_JSON_BODY_BYTES = 4096;

/** SPEC §9 cursor: at most 64 of these characters (ours are decimal; others are "unknown cursor"). */
const cursorSchema = { type: 'string', maxLength: 64, pattern: '^[A-Za-z0-9._:-]*$' } as const;
const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
} as const;
const nameParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', pattern: CONSUMER_NAME_PATTERN.source } },
} as const;

/** What a failed schema check means, for a human (and "unknown cursor" for any malformed cursor). */
function reasonFor(error: FastifyError): string {
  const first = error.validation?.[0];
  const path = first?.instancePath ?? '';
  if (path === '/after' || path === '/cursor') return ConsumerReason.unknownCursor;
  if (path === '/id') return ConsumerReason.badMessageId;
  if (path === '/name') return ConsumerReason.badConsumerName;
  return error.message;
}

export const consumerApi: FastifyPluginAsync<ConsumerApiOptions> = async (app, options) => {
  const { tokens, service, watcher, sessions, keyTag } = options;
  const send = (reply: FastifyReply, answer: Answer): FastifyReply => sendAnswer(reply, answer);

  // JSON only here (the /api routes keep SPEC §1's two form formats): the PUT body.
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: MAX_JSON_BODY_BYTES }, (request, body, done) => {
    try {
      done(null, JSON.parse(String(body)));
    } catch {
      done(HttpProblem.badRequest(ConsumerReason.bodyNotJson), undefined);
    }
  });

  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (error.validation !== undefined) return send(reply, answers.badRequest(reasonFor(error)));
    return handleError(error, request, reply);
  });

  app.addHook('onRequest', async (request) => {
    request.operation = 'consumer';
    if (tokens.check(request.headers.authorization) === undefined) throw new HttpProblem(answers.unauthorized());
  });

  // A stopping server answers its long-polls at once instead of holding the shutdown for up to 30 s.
  app.addHook('preClose', async () => watcher.close());

  app.get<{ Querystring: { after: string; limit: number; wait: number } }>(
    '/messages',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            after: { ...cursorSchema, default: '' },
            limit: { type: 'integer', minimum: PAGE_LIMIT.min, maximum: PAGE_LIMIT.max, default: PAGE_LIMIT.default },
            wait: { type: 'integer', minimum: WAIT_SECONDS.min, maximum: WAIT_SECONDS.max, default: WAIT_SECONDS.default },
          },
        },
      },
    },
    async (request, reply) => send(reply, await service.read(request.query.after, request.query.limit, request.query.wait)),
  );

  app.get<{ Params: { id: string } }>('/messages/:id', { schema: { params: idParams } }, async (request, reply) =>
    send(reply, await service.record(request.params.id)),
  );

  app.delete<{ Params: { id: string } }>('/messages/:id', { schema: { params: idParams } }, async (request, reply) =>
    send(reply, await service.delete(request.params.id)),
  );

  app.get<{ Params: { name: string } }>('/consumers/:name', { schema: { params: nameParams } }, async (request, reply) =>
    send(reply, await service.bookmark(request.params.name)),
  );

  app.put<{ Params: { name: string }; Body: { cursor: string } }>(
    '/consumers/:name',
    {
      schema: {
        params: nameParams,
        body: { type: 'object', required: ['cursor'], properties: { cursor: cursorSchema } },
      },
    },
    async (request, reply) => send(reply, await service.moveBookmark(request.params.name, request.body.cursor)),
  );

  app.delete<{ Params: { key: string } }>(
    '/sessions/:key',
    { schema: { params: { type: 'object', required: ['key'], properties: { key: { type: 'string', minLength: 1, maxLength: 200 } } } } },
    async (request, reply) => {
      request.keyTag = keyTag(request.params.key);
      const outcome = await sessions.endSession(request.params.key);
      // Logout's "not found" (200 on /api) is a 404 here, as for every other missing resource.
      return send(reply, outcome.answer.body.message === answers.deleted().body.message ? outcome.answer : answers.missing());
    },
  );
};
