/**
 * Typed errors of the client. Every one is a SecureMessageError with a stable `code`, so
 * callers branch on `err.code` (or `instanceof`) and never on message text.
 */

/** The stable codes; new ones may be added, existing ones never change meaning. */
export type ClientErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_AUTH'
  | 'INVALID_MESSAGE'
  | 'EXPIRED'
  | 'BAD_REQUEST'
  | 'RATE_LIMITED'
  | 'UNAVAILABLE'
  | 'NETWORK'
  | 'ABORTED'
  | 'PROTOCOL';

/** The JSON body of a server answer (SPEC §1), as far as the client reads it. */
export interface AnswerBody {
  message: string;
  code: number;
  name?: string;
  id?: string;
  error?: string;
}

export interface SecureMessageErrorOptions {
  cause?: unknown;
  /** HTTP status of the last answer, when there was one. */
  status?: number;
  /** The last answer's body, when there was one. */
  answer?: AnswerBody;
  /** What the server asked to wait (Retry-After), in milliseconds. */
  retryAfterMs?: number;
}

export class SecureMessageError extends Error {
  readonly code: ClientErrorCode;
  /** True when the same call may succeed later unchanged (outage, rate limit, network). */
  readonly retryable: boolean;
  readonly status: number | undefined;
  readonly answer: AnswerBody | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(code: ClientErrorCode, message: string, retryable: boolean, options: SecureMessageErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = retryable;
    this.status = options.status;
    this.answer = options.answer;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** A bad argument to the client itself (server URL, key, minute, payload); nothing was sent. */
export class InvalidArgumentError extends SecureMessageError {
  constructor(message: string, options?: SecureMessageErrorOptions) {
    super('INVALID_ARGUMENT', message, false, options);
  }
}

/** The server knows no such user or device (auth), or lost the session again right after a new auth (send). */
export class NotFoundError extends SecureMessageError {
  constructor(message: string, options?: SecureMessageErrorOptions) {
    super('NOT_FOUND', message, false, options);
  }
}

/** The server kept answering `already auth` after a logout: another client is authenticating with this key. */
export class AlreadyAuthError extends SecureMessageError {
  constructor(message: string, options?: SecureMessageErrorOptions) {
    super('ALREADY_AUTH', message, false, options);
  }
}

/** The server could not use the envelope; it does not say why (it must not be a decryption oracle). */
export class InvalidMessageError extends SecureMessageError {
  constructor(message: string, options?: SecureMessageErrorOptions) {
    super('INVALID_MESSAGE', message, false, options);
  }
}

/** The envelope's `minute` is outside the server's freshness window: check this device's clock. */
export class ExpiredError extends SecureMessageError {
  constructor(message: string, options?: SecureMessageErrorOptions) {
    super('EXPIRED', message, false, options);
  }
}

/** The server called the request malformed (400/413/415); `answer.error` has its reason. */
export class BadRequestError extends SecureMessageError {
  constructor(message: string, options?: SecureMessageErrorOptions) {
    super('BAD_REQUEST', message, false, options);
  }
}

/** 429 on every attempt, or a Retry-After longer than the client is allowed to wait. */
export class RateLimitedError extends SecureMessageError {
  constructor(message: string, options?: SecureMessageErrorOptions) {
    super('RATE_LIMITED', message, true, options);
  }
}

/** 503 (or a gateway error) on every attempt. */
export class UnavailableError extends SecureMessageError {
  constructor(message: string, options?: SecureMessageErrorOptions) {
    super('UNAVAILABLE', message, true, options);
  }
}

/** No answer at all on every attempt: connection refused or reset, DNS, CORS refusal, timeout. */
export class NetworkError extends SecureMessageError {
  constructor(message: string, options?: SecureMessageErrorOptions) {
    super('NETWORK', message, true, options);
  }
}

/** The caller's AbortSignal fired. */
export class AbortedError extends SecureMessageError {
  constructor(message: string, options?: SecureMessageErrorOptions) {
    super('ABORTED', message, false, options);
  }
}

/** An answer that is not of SPEC §1: wrong server, a proxy's page, an unknown code. */
export class ProtocolError extends SecureMessageError {
  constructor(message: string, options?: SecureMessageErrorOptions) {
    super('PROTOCOL', message, false, options);
  }
}
