/**
 * The one error of the envelope layer (SPEC §5).
 *
 * Every cause (bad JSON, bad base64, RSA-OAEP failure, bad padding, GCM tag mismatch,
 * invalid UTF-8, ...) becomes this same class with the same `message`, so nothing that
 * reaches a client can tell the causes apart: the server must not be a padding or
 * decryption oracle (SPEC §1).
 */

/** Thrown for every reason an envelope cannot be used; `reason` is for debug logs only, never for a response. */
export class InvalidEnvelopeError extends Error {
  /** Why the envelope was refused: internal diagnostics, never sent to a client. */
  readonly reason: string;

  /** `reason` names the failed check; `cause` keeps the underlying error for debug logs. */
  constructor(reason: string, options?: { cause?: unknown }) {
    // A constant message: code that carelessly echoes `err.message` still leaks nothing.
    super('invalid message', options);
    this.name = 'InvalidEnvelopeError';
    this.reason = reason;
  }
}
