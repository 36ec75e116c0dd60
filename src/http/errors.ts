/**
 * One error handler for the whole server: every error becomes a SPEC §1 JSON answer.
 * Nothing a client sends may produce a 500 or a stack trace (SPEC §1).
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { BackendUnavailableError } from '../backends/unavailable.js';
import { answers, BadRequestReason, Message, type Answer } from '../protocol/answers.js';
import { KeyUnwrapError } from '../session/key-wrap.js';
import { KeyWaitFullError } from '../session/key-pool.js';
import { HttpProblem } from './problems.js';

/** The body formats SPEC §1 accepts, named in the 415 answer. */
export const ACCEPTED_CONTENT_TYPES = ['application/x-www-form-urlencoded', 'multipart/form-data'] as const;

/** Maps any error to its answer; `unexpected` says whether it is a bug worth an error log. */
export function answerForError(error: unknown): { answer: Answer; unexpected: boolean } {
  if (error instanceof HttpProblem) return { answer: error.answer, unexpected: false };
  if (error instanceof BackendUnavailableError) return { answer: answers.unavailable(), unexpected: false };
  // SPEC §11: a wrong KEY_ENCRYPTION_KEY, and issue 10's bound on auths waiting for a key: 503, not a bug.
  if (error instanceof KeyUnwrapError || error instanceof KeyWaitFullError) return { answer: answers.unavailable(), unexpected: false };
  const statusCode = (error as Partial<FastifyError>)?.statusCode;
  const code = (error as Partial<FastifyError>)?.code;
  if (statusCode === 413 || code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return { answer: answers.badRequest(BadRequestReason.bodyTooLarge, 413), unexpected: false };
  }
  if (statusCode === 415 || code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return {
      answer: answers.badRequest(`unsupported content type; send ${ACCEPTED_CONTENT_TYPES.join(' or ')}`, 415),
      unexpected: false,
    };
  }
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    return { answer: answers.badRequest(BadRequestReason.malformedBody), unexpected: false };
  }
  // A fault of our own: answered like an outage (retryable, no details) and logged as a bug.
  return { answer: answers.unavailable(), unexpected: true };
}

/** The fixed `message` strings of §1: only these are kept on the request for the metrics (never a PEM). */
const FIXED_MESSAGES: ReadonlySet<string> = new Set(Object.values(Message));

/** Sends an answer with its status, body and Retry-After. */
export function sendAnswer(reply: FastifyReply, answer: Answer): FastifyReply {
  if (answer.retryAfter !== undefined) reply.header('retry-after', String(answer.retryAfter));
  for (const [name, value] of Object.entries(answer.headers ?? {})) reply.header(name, value);
  reply.request.outcomeCode = answer.body.code;
  reply.request.outcomeMessage = FIXED_MESSAGES.has(answer.body.message) ? answer.body.message : undefined;
  reply.request.outcomeReason = answer.body.error;
  return reply.code(answer.status).type('application/json; charset=utf-8').send(answer.body);
}

/** Fastify's setErrorHandler callback. */
export function handleError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const { answer, unexpected } = answerForError(error);
  if (unexpected) request.log.error({ err: error }, 'unexpected error');
  else if (error instanceof BackendUnavailableError) request.log.warn({ backend: error.backend, reason: error.message }, 'backend unavailable');
  else if (error instanceof KeyUnwrapError) {
    request.log.error({ reason: error.message }, 'stored session key cannot be opened: check KEY_ENCRYPTION_KEY and KEY_ENCRYPTION_KEY_PREVIOUS');
  } else if (error instanceof KeyWaitFullError) request.log.warn({ waiting: error.waiting }, 'too many auths waiting for a session key: answered 503');
  return sendAnswer(reply, answer);
}
