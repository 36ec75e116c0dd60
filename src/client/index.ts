/**
 * The device client of Secure Message Server: WebCrypto and fetch only, so the same module
 * runs on Node.js 20 and in browsers.
 */
export { SecureMessageClient, clientKey } from './client.js';
export type { ClientOptions, SendOptions, SendResult, Session, CallOptions } from './client.js';
export { buildEnvelope, importPublicKey, spkiFromPem, unixMinute } from './envelope.js';
export { DEFAULT_KEY_REUSE, MAX_MESSAGES_PER_KEY } from './content-key.js';
export type { KeyReuseOptions } from './content-key.js';
export type { ContentEncryption, Envelope, EnvelopeOptions, Minute, OaepHash } from './envelope.js';
export { DEFAULT_RETRY_POLICY, backoffDelay, parseRetryAfter } from './retry.js';
export type { RetryPolicy } from './retry.js';
export { apiEndpoint } from './transport.js';
export type { FetchLike } from './transport.js';
export { encodeBase64, decodeBase64 } from './base64.js';
export {
  SecureMessageError,
  InvalidArgumentError,
  NotFoundError,
  AlreadyAuthError,
  InvalidMessageError,
  ExpiredError,
  BadRequestError,
  RateLimitedError,
  UnavailableError,
  NetworkError,
  AbortedError,
  ProtocolError,
} from './errors.js';
export type { ClientErrorCode, AnswerBody } from './errors.js';
