/**
 * Issue 15: the durable, shared session key pool. Pairs made ahead of time are kept in the store
 * (in the same place as the sessions they will become, wrapped the same way), so a restart or a
 * new instance starts with a full pool and every process of every instance takes from one pool.
 *
 * Each entry is handed out at most once: `take` removes it in one atomic step (SQLite: one
 * DELETE … RETURNING in a write transaction; Redis: LPOP). Entries are kept apart by RSA size,
 * so a changed SESSION_KEY_BITS never hands out a key of the old size.
 */
import type { SessionKeyBits } from '../config/config.js';

/** One pre-generated pair, in the form a session record stores it. */
export interface PooledKey {
  /** SubjectPublicKeyInfo PEM: what the auth answers. */
  publicKeyPem: string;
  /**
   * The private key exactly as a session record's `private_key` holds it: an encrypted PKCS#8
   * PEM under KEY_ENCRYPTION_KEY when that is set, else plain PKCS#8. Never logged.
   */
  storedPrivateKey: string;
  /** Which key wrapped it (KeyWrap.tag): "plain", or a fingerprint of the KEY_ENCRYPTION_KEY. */
  wrapTag: string;
}

export interface KeyPoolStore {
  /**
   * Adds `key` unless the pool of its size already holds `limit` entries (checked and added in
   * one atomic step, so processes filling at once never push it past `limit`). True = added.
   */
  add(bits: SessionKeyBits, key: PooledKey, limit: number): Promise<boolean>;
  /** Removes and returns one entry of this size (oldest first), or null when there is none. */
  take(bits: SessionKeyBits): Promise<PooledKey | null>;
  /** Entries of this size. */
  count(bits: SessionKeyBits): Promise<number>;
  /** Deletes every entry of another size (SESSION_KEY_BITS changed): they would never be handed out. Returns how many. */
  discardOtherSizes(bits: SessionKeyBits): Promise<number>;
  /** Deletes every entry not wrapped under `wrapTag` (`admin sessions rewrap`, after a key rotation). Returns how many. */
  discardOtherWraps(wrapTag: string): Promise<number>;
}
