/**
 * SPEC §12: the OpenAPI document of the main port, made by @fastify/swagger from the schemas of
 * the routes the main app registers. Any route added with a Fastify schema (the /v1/ consumer API
 * among them) appears in it by itself; /api's schema below is written from answers.ts.
 *
 * /api's schema documents and does not validate: the route keeps the protocol's own parsing and
 * answers (a validation error would not be a §1 answer), so it gets compilers that accept
 * everything and serialize with JSON.stringify, exactly as before.
 */
import type { FastifyInstance, FastifySchema, FastifySchemaCompiler, FastifySerializerCompiler } from 'fastify';
import swagger from '@fastify/swagger';
import { BadRequestReason, Code, Message, UNAVAILABLE_RETRY_AFTER_SECONDS } from '../protocol/answers.js';
import { MAX_KEY_LENGTH } from '../protocol/client-key.js';

export const OPENAPI_VERSION = '3.1.0';

/** Registers the document generator; call before any route is added. */
export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: OPENAPI_VERSION,
      info: {
        title: 'Secure Message Server',
        version,
        description:
          'Devices authenticate with a client key, get a session public key and submit hybrid-encrypted ' +
          'envelopes (SPEC §1-§8); the site reads them through the consumer API (/v1/, SPEC §9). ' +
          'Every answer is JSON with `message` and `code`.',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'API_TOKENS (SPEC §9)' } },
      },
    },
  });
}

/** The document, once the app is ready. */
export function openApiDocument(app: FastifyInstance): Record<string, unknown> {
  return app.swagger() as unknown as Record<string, unknown>;
}

const answer = (message: unknown, code: unknown, extra: Record<string, unknown> = {}, required: string[] = []) => ({
  type: 'object',
  required: ['message', 'code', ...required],
  properties: { message, code, ...extra },
});
const constant = (value: string | number) => ({ const: value });
const retryAfter = {
  'retry-after': { type: 'integer', description: `Seconds to wait before trying again (503: ${UNAVAILABLE_RETRY_AFTER_SECONDS})` },
};
const messageId = { type: 'string', pattern: '^[0-9a-f]{64}$', description: 'SHA-256 of the canonical envelope (SPEC §6)' };
const badRequest = (reasonDescription: string) =>
  answer(constant(Message.badRequest), constant(Code.badRequest), { error: { type: 'string', description: reasonDescription } }, ['error']);

const fields = {
  type: 'object',
  required: ['key'],
  properties: {
    key: { type: 'string', minLength: 1, maxLength: MAX_KEY_LENGTH, description: 'The client key: user id followed by device id (SPEC §2)' },
    status: { type: 'string', enum: ['on', 'off'], description: '`on` = authenticate, `off` = log out; absent = submit `message`' },
    message: { type: 'string', description: 'An encrypted envelope, JSON (SPEC §5); only without `status`' },
  },
  additionalProperties: true,
};

export const apiRouteSchema: FastifySchema = {
  summary: 'Authenticate, log out or submit an envelope (SPEC §1)',
  description:
    'Dispatch: `status` present = auth (`on`) or logout (`off`); otherwise `message` = submit. ' +
    'Fields only; a file part is a bad request. Extra fields are ignored.',
  tags: ['devices'],
  body: {
    content: {
      'application/x-www-form-urlencoded': { schema: fields },
      'multipart/form-data': { schema: fields },
    },
  },
  response: {
    200: {
      description:
        'auth: session created (code 0, `message` = public key PEM, `name`), already auth (1), not found (2); ' +
        'logout: deleted (0), not found (2); submit: delivered (0, `id`), duplicate (1, `id`), not found (2)',
      oneOf: [
        answer({ type: 'string', description: 'The session public key, SPKI PEM' }, constant(Code.ok), { name: { type: 'string' } }, ['name']),
        answer(constant(Message.alreadyAuth), constant(Code.already)),
        answer(constant(Message.notFound), constant(Code.notFound)),
        answer(constant(Message.deleted), constant(Code.ok)),
        answer(constant(Message.delivered), constant(Code.ok), { id: messageId }, ['id']),
        answer(constant(Message.duplicate), constant(Code.already), { id: messageId }, ['id']),
      ],
    },
    400: {
      description:
        'A malformed request (`bad request` with a human `error`), an envelope that cannot be used ' +
        '(exactly `invalid message`, the same bytes for every cause), or a `minute` outside the window (`expired`)',
      oneOf: [
        badRequest(Object.values(BadRequestReason).join('; ')),
        answer(constant(Message.invalidMessage), constant(Code.badRequest)),
        answer(constant(Message.expired), constant(Code.badRequest)),
      ],
    },
    405: { description: 'Another method than POST', ...badRequest('method not allowed; use POST') },
    413: { description: 'Body larger than MAX_BODY_BYTES', ...badRequest(BadRequestReason.bodyTooLarge) },
    415: { description: 'Another content type than the two accepted', ...badRequest('names the accepted content types') },
    429: {
      description: 'Rate limit or failure budget hit',
      headers: retryAfter,
      ...answer(constant(Message.tooManyRequests), constant(Code.tooMany)),
    },
    503: {
      description: 'A backend is unreachable, or the server is overloaded or stopping',
      headers: retryAfter,
      ...answer(constant(Message.unavailable), constant(Code.unavailable)),
    },
  },
};

/** Documentation only: every body passes on to the protocol's own checks. */
export const acceptAnything: FastifySchemaCompiler<unknown> = () => (value: unknown) => ({ value });
/** Answers are sent exactly as before: the schema above does not filter their fields. */
export const serializeAsIs: FastifySerializerCompiler<unknown> = () => (data: unknown) => JSON.stringify(data);
