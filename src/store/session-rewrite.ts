/**
 * Rewriting stored session records in place, for `admin sessions rewrap` (SPEC §11: every stored
 * private key re-encrypted under the current KEY_ENCRYPTION_KEY). A record is replaced only if it
 * is still exactly what was read, and keeps its expiry, so a concurrent logout, renewal or new
 * auth is never undone. Every method may throw BackendUnavailableError.
 */
export interface StoredSession {
  clientKey: string;
  /** The record's JSON as stored. */
  raw: string;
}

export interface SessionRecordRewriter {
  /** Every stored session (live or not yet purged). */
  list(): Promise<StoredSession[]>;
  /** Replaces the record if it is still `expected`; true when replaced. The expiry is kept. */
  replace(clientKey: string, expected: string, next: string): Promise<boolean>;
}
