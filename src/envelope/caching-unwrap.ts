/**
 * A KeyUnwrapper that remembers what another one unwrapped, so a client that reuses one wrapped
 * AES key for many messages pays the RSA private operation once (issue 5).
 *
 * Safe as a cache because RSA-OAEP decryption is a pure function of (private key, ciphertext
 * bytes, hash): one instance serves one session's key only, the cache key is the exact bytes and
 * hash, and only successful unwraps are stored, so no input can plant a wrong answer and every
 * refusal still comes from the inner unwrapper, unchanged.
 */
import type { KeyUnwrapper, OaepHash } from './key-unwrap.js';

export class CachingUnwrapper implements KeyUnwrapper {
  /** Insertion order doubles as recency: a hit is moved to the end, the first entry is the oldest. */
  private readonly keys = new Map<string, Buffer>();

  constructor(
    private readonly inner: KeyUnwrapper,
    /** Most AES keys kept; the least recently used goes first. */
    private readonly capacity: number,
  ) {}

  unwrap(encryptedKey: Buffer, oaepHash: OaepHash): Buffer {
    // latin1 maps each byte to one char: an exact, compact text form of the bytes.
    const id = `${oaepHash}\u0000${encryptedKey.toString('latin1')}`;
    const known = this.keys.get(id);
    if (known !== undefined) {
      this.keys.delete(id);
      this.keys.set(id, known);
      return Buffer.from(known);
    }
    const key = this.inner.unwrap(encryptedKey, oaepHash);
    if (this.capacity > 0) {
      // A copy, so nothing the caller does to its buffer changes what later messages get.
      this.keys.set(id, Buffer.from(key));
      while (this.keys.size > this.capacity) this.forget(this.keys.keys().next().value as string);
    }
    return key;
  }

  get size(): number {
    return this.keys.size;
  }

  /** Forgets every key, overwriting the bytes rather than waiting for the garbage collector. */
  clear(): void {
    for (const id of [...this.keys.keys()]) this.forget(id);
  }

  private forget(id: string): void {
    this.keys.get(id)?.fill(0);
    this.keys.delete(id);
  }
}
