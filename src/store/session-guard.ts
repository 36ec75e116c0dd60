/**
 * What the hardening of SPEC §10 (per-session invalid-envelope limit) and §11 (AES-CBC replay)
 * needs from a store: small per-session state that lives no longer than its session.
 *
 * State belongs to one session, named by its client key and the session record's `created_at`:
 * a later session of the same key never sees an earlier one's state, even if a cleanup was
 * missed (that is how a new auth leaves the old state behind: unreadable at once, dropped by the
 * new session's first write of state). `forget` drops a key's state at once (logout, a session
 * ended by the limit); stores also drop it by themselves once the session is gone (expiry, a
 * replaced session), so it is bounded by the session's life.
 * Every method may throw BackendUnavailableError.
 */
import type { TtlSeconds } from './store.js';

/** One session: the client key it is stored under and its record's `created_at`. */
export interface SessionScope {
  clientKey: string;
  createdAt: string;
}

export interface SessionGuardStore {
  /**
   * SPEC §11, atomically (across processes too): if `fingerprint` was already claimed in this
   * session, the message id it was claimed with; otherwise claims it for `id` and returns null.
   * `ttl` is the session's (0 = never expires), so the claim cannot outlive it.
   */
  claimContent(scope: SessionScope, fingerprint: string, id: string, ttl: TtlSeconds): Promise<string | null>;
  /** Undoes a claim made for `id` whose message could not be stored (only if still claimed for `id`). */
  releaseContent(scope: SessionScope, fingerprint: string, id: string): Promise<void>;
  /** SPEC §10: counts one more `invalid message` answer in this session; resolves to the count so far. */
  countInvalid(scope: SessionScope, ttl: TtlSeconds): Promise<number>;
  /** The session was renewed: its state keeps as long (no-op where the store ties state to the session row). */
  renew(clientKey: string, ttl: TtlSeconds): Promise<void>;
  /** Drops every state of this client key's sessions. */
  forget(clientKey: string): Promise<void>;
}
