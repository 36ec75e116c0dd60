/**
 * Issue 15: one AES-256-GCM key per session, wrapped once and reused for many messages, each with
 * a fresh random 96-bit IV. The server keeps the AES keys it unwrapped per session
 * (src/session/key-cache.ts), so a reused wrapped key spares it the RSA private operation: the
 * bulk of a submit's cost. Only AES-GCM: an AES-CBC key is never reused (the client wraps a new
 * one per CBC message, as before), because CBC has no authentication for a reused key to lean on.
 *
 * NIST SP 800-38D §8.3 allows at most 2^32 encryptions under one key with random IVs, which keeps
 * the chance of any IV repeating below 2^-32. A key is rotated far earlier, after whichever comes
 * first (DEFAULT_KEY_REUSE):
 *  - maxMessages (default 2^16 = 65,536; at most MAX_MESSAGES_PER_KEY = 2^20): for n messages the
 *    chance that two of their IVs are equal is at most n(n-1)/2 / 2^96, i.e. below 2^-65 for 2^16
 *    and below 2^-57 for 2^20;
 *  - maxAgeMs (default one hour): bounds how long one key is exposed in memory on both sides and
 *    how much one key protects if it ever leaked;
 *  - a new session (a new auth, or the server lost the session): the key is wrapped for the new
 *    session's public key; an old session's wrapped key is never sent to a new session.
 * A resend of the same envelope (a lost answer) is the same bytes, not a new encryption.
 */
import { canonicalMinute, type Minute } from '../envelope/minute.js';
import { encodeBase64 } from './base64.js';
import type { OaepHash } from './envelope.js';
import { InvalidArgumentError } from './errors.js';

export interface KeyReuseOptions {
  /** Messages encrypted under one key before a new one is wrapped (1 to MAX_MESSAGES_PER_KEY). */
  maxMessages?: number;
  /** Milliseconds after its wrapping after which a key is no longer used (at least 1). */
  maxAgeMs?: number;
}

export type KeyReuseLimits = Required<KeyReuseOptions>;

export const DEFAULT_KEY_REUSE: KeyReuseLimits = { maxMessages: 65_536, maxAgeMs: 3_600_000 };
/** The highest maxMessages accepted: 2^20, 2^12 times below NIST's 2^32. */
export const MAX_MESSAGES_PER_KEY = 1_048_576;

const AES_KEY_BYTES = 32;
const GCM_IV_BYTES = 12;

/** The limits an option asks for; throws InvalidArgumentError for a value outside them. */
export function keyReuseLimits(options: KeyReuseOptions | false | undefined): KeyReuseLimits | null {
  if (options === false) return null;
  const limits = { ...DEFAULT_KEY_REUSE, ...options };
  if (!Number.isInteger(limits.maxMessages) || limits.maxMessages < 1 || limits.maxMessages > MAX_MESSAGES_PER_KEY) {
    throw new InvalidArgumentError(`keyReuse.maxMessages must be a whole number from 1 to ${MAX_MESSAGES_PER_KEY}`);
  }
  if (!Number.isFinite(limits.maxAgeMs) || limits.maxAgeMs < 1) throw new InvalidArgumentError('keyReuse.maxAgeMs must be a positive number');
  return limits;
}

/** What the envelope carries from a content key, beside the fields the caller adds. */
export interface SealedContent {
  encryptedKey: string;
  iv: string;
  ciphertext: string;
}

/** One wrapped AES-256-GCM key of one session and one OAEP hash. */
export class ReusableContentKey {
  #uses = 0;
  readonly #aesKey: CryptoKey;
  readonly #limits: KeyReuseLimits;

  private constructor(
    /** The RSA-OAEP ciphertext of the key, base64: the same bytes in every envelope under it. */
    readonly encryptedKey: string,
    /** The OAEP hash it was wrapped with (the envelope's `oaepHash`). */
    readonly oaepHash: OaepHash,
    aesKey: CryptoKey,
    readonly wrappedAt: number,
    limits: KeyReuseLimits,
  ) {
    this.#aesKey = aesKey;
    this.#limits = limits;
  }

  /** A fresh key, wrapped for the session's public key (imported for `oaepHash`). */
  static async wrap(rsaKey: CryptoKey, oaepHash: OaepHash, limits: KeyReuseLimits, now: number): Promise<ReusableContentKey> {
    const crypto = globalThis.crypto;
    const raw = crypto.getRandomValues(new Uint8Array(AES_KEY_BYTES));
    try {
      // Not extractable: after this the raw bytes exist only inside WebCrypto.
      const aesKey = await crypto.subtle.importKey('raw', raw, { name: 'AES-GCM' }, false, ['encrypt']);
      const encryptedKey = new Uint8Array(await crypto.subtle.encrypt({ name: 'RSA-OAEP' }, rsaKey, raw));
      return new ReusableContentKey(encodeBase64(encryptedKey), oaepHash, aesKey, now, limits);
    } finally {
      raw.fill(0);
    }
  }

  /** Messages encrypted under this key so far. */
  get uses(): number {
    return this.#uses;
  }

  /**
   * Takes one use of this key if it is still within its limits at `now`. Synchronous, so
   * concurrent sends never take more than maxMessages between them; false = wrap a new key.
   */
  reserve(now: number): boolean {
    // A clock that went back is treated like an old key: the age can no longer be trusted.
    if (this.#uses >= this.#limits.maxMessages || now < this.wrappedAt || now - this.wrappedAt >= this.#limits.maxAgeMs) return false;
    this.#uses += 1;
    return true;
  }

  /** Encrypts one message (a use reserve() granted) under a fresh random IV, the canonical minute as the additional data (SPEC §5). */
  async seal(data: Uint8Array<ArrayBuffer>, minute: Minute): Promise<SealedContent> {
    const iv = globalThis.crypto.getRandomValues(new Uint8Array(GCM_IV_BYTES));
    const params: AesGcmParams = { name: 'AES-GCM', iv, additionalData: new TextEncoder().encode(canonicalMinute(minute)), tagLength: 128 };
    const ciphertext = new Uint8Array(await globalThis.crypto.subtle.encrypt(params, this.#aesKey, data));
    return { encryptedKey: this.encryptedKey, iv: encodeBase64(iv), ciphertext: encodeBase64(ciphertext) };
  }
}
