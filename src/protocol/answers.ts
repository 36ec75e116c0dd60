/**
 * Every answer of SPEC §1, written once. The HTTP layer, the tests and the
 * client read codes, statuses and message strings from here and nowhere else.
 */

/** Result codes of SPEC §1 (the `code` field of every response). */
export const Code = {
  ok: 0,
  already: 1,
  notFound: 2,
  badRequest: 3,
  tooMany: 4,
  unavailable: 5,
  /** SPEC §9, §12: the consumer API or the operator listener without the right bearer token. */
  unauthorized: 6,
  /** SPEC §9: a bookmark asked to move backwards. */
  conflict: 7,
} as const;
export type Code = (typeof Code)[keyof typeof Code];

/** The `message` strings of SPEC §1 that are not payload (the PEM of a new session is the other one). */
export const Message = {
  alreadyAuth: 'already auth',
  notFound: 'not found',
  deleted: 'deleted',
  delivered: 'delivered',
  duplicate: 'duplicate',
  badRequest: 'bad request',
  invalidMessage: 'invalid message',
  expired: 'expired',
  tooManyRequests: 'too many requests',
  unavailable: 'unavailable',
  ok: 'ok',
  unauthorized: 'unauthorized',
  conflict: 'conflict',
} as const;

/** The JSON body of a response: SPEC §1 guarantees `message` and `code`; the rest is per answer. */
export interface AnswerBody {
  message: string;
  code: Code;
  name?: string;
  id?: string;
  error?: string;
  /** /readyz: each backend's state. */
  backends?: Record<string, 'up' | 'down'>;
}

/** An answer: what the HTTP layer sends, status and body. */
export interface Answer {
  status: number;
  body: AnswerBody;
  /** Seconds for `Retry-After` (429 and 503). */
  retryAfter?: number;
  /** Further response headers of this answer (e.g. `WWW-Authenticate` on a 401). */
  headers?: Readonly<Record<string, string>>;
}

/** Seconds a client is asked to wait after a 503. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;

export const answers = {
  sessionCreated: (publicKeyPem: string, deviceName: string): Answer => ({
    status: 200,
    body: { message: publicKeyPem, code: Code.ok, name: deviceName },
  }),
  alreadyAuth: (): Answer => ({ status: 200, body: { message: Message.alreadyAuth, code: Code.already } }),
  notFound: (): Answer => ({ status: 200, body: { message: Message.notFound, code: Code.notFound } }),
  deleted: (): Answer => ({ status: 200, body: { message: Message.deleted, code: Code.ok } }),
  delivered: (id: string): Answer => ({ status: 200, body: { message: Message.delivered, code: Code.ok, id } }),
  duplicate: (id: string): Answer => ({ status: 200, body: { message: Message.duplicate, code: Code.already, id } }),
  /** A malformed request; `reason` is for a human and never echoes secrets. */
  badRequest: (reason: string, status = 400): Answer => ({
    status,
    body: { message: Message.badRequest, code: Code.badRequest, error: reason },
  }),
  /** The same bytes for every cause, so the server is no padding or decryption oracle (SPEC §1, §5). */
  invalidMessage: (): Answer => ({ status: 400, body: { message: Message.invalidMessage, code: Code.badRequest } }),
  expired: (): Answer => ({ status: 400, body: { message: Message.expired, code: Code.badRequest } }),
  tooManyRequests: (retryAfter: number): Answer => ({
    status: 429,
    body: { message: Message.tooManyRequests, code: Code.tooMany },
    retryAfter,
  }),
  /** Any path but the server's own. */
  noRoute: (): Answer => ({ status: 404, body: { message: Message.notFound, code: Code.notFound, error: 'no such route' } }),
  /** SPEC §9: a consumer API resource (message, session) that does not exist. */
  missing: (): Answer => ({ status: 404, body: { message: Message.notFound, code: Code.notFound } }),
  /** /api takes POST only; `allow` is sent as the Allow header by the HTTP layer. */
  methodNotAllowed: (): Answer => ({
    status: 405,
    body: { message: Message.badRequest, code: Code.badRequest, error: 'method not allowed; use POST' },
  }),
  /** SPEC §9, §12: a missing or wrong bearer token. */
  unauthorized: (): Answer => ({
    status: 401,
    body: { message: Message.unauthorized, code: Code.unauthorized },
    headers: { 'www-authenticate': 'Bearer' },
  }),
  /** SPEC §9: a bookmark may only move forward. */
  conflict: (reason: string): Answer => ({
    status: 409,
    body: { message: Message.conflict, code: Code.conflict, error: reason },
  }),
  unavailable: (): Answer => ({
    status: 503,
    body: { message: Message.unavailable, code: Code.unavailable },
    retryAfter: UNAVAILABLE_RETRY_AFTER_SECONDS,
  }),
} as const;

/** Human reasons of the 400/413/415 answers, so tests and docs name the same text. */
export const BadRequestReason = {
  missingKey: 'missing key',
  keyTooLong: 'key longer than 200 characters',
  unknownStatus: 'status must be "on" or "off"',
  statusAndMessage: 'status and message together',
  nothingToDo: 'neither status nor message',
  repeatedField: 'a field was sent more than once',
  fileNotAccepted: 'file parts are not accepted',
  bodyTooLarge: 'body too large',
  malformedBody: 'malformed body',
  fieldNotText: 'fields must be text',
} as const;

/** SPEC §9: reasons of the consumer API's 400 and 409 answers. */
export const ConsumerReason = {
  unknownCursor: 'unknown cursor',
  badMessageId: 'a message id is 64 lowercase hex digits',
  badConsumerName: 'a consumer name is 1 to 64 of A-Z a-z 0-9 . _ -',
  bodyNotJson: 'the body must be a JSON object',
  backwards: 'a bookmark only moves forward',
} as const;
