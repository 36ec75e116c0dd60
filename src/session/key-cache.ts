/**
 * Per-process memory of each session's parsed private key and of the AES keys unwrapped with it
 * (issue 5), so a submit neither re-parses the PEM (which also makes OpenSSL rebuild its
 * Montgomery and blinding state: about 1.5 ms here, three times the decryption itself) nor repeats an RSA operation it already did.
 *
 * An entry belongs to one session, not to a client key: it records the session's `created_at` and
 * private key PEM, and a record that differs in either (a logout and a new auth, perhaps served by
 * another process) replaces the entry and everything in it. So a new session can never be opened
 * with an old session's key, whatever this process missed. The comparison is exact; a hash of the
 * PEM would cost more per submit than the string compare it saves memory on.
 */
import { CachingUnwrapper } from '../envelope/caching-unwrap.js';
import { rsaOaepUnwrapper, type KeyUnwrapper } from '../envelope/key-unwrap.js';
import type { SessionRecord } from '../store/store.js';
import { KeyUnwrapError, NO_KEY_WRAP, type KeyWrap } from './key-wrap.js';

export interface KeyCacheOptions {
  /** Sessions kept; the least recently used goes first. 0 = no caching at all. */
  maxSessions: number;
  /** AES keys kept per session. */
  maxKeysPerSession: number;
  /** An entry unused this long is dropped (the session expired, or another process serves it); 0 = never. */
  idleMs: number;
  now?: () => number;
  /**
   * How stored private keys are opened (SPEC §11, KEY_ENCRYPTION_KEY). An encrypted PEM costs a
   * PBKDF2 and a decryption on top of the parse, paid once per session per process here.
   */
  keyWrap?: KeyWrap;
}

/**
 * AES keys kept per session. A parsed RSA-2048 key is about 3 KB and an AES entry under 0.5 KB,
 * so the default KEY_CACHE_SESSIONS (4096) holds at most ~30 MB.
 */
export const DEFAULT_KEYS_PER_SESSION = 8;

interface Entry {
  createdAt: string;
  /** The same secret the parsed key holds; kept only to recognise the session. */
  privateKeyPem: string;
  unwrapper: CachingUnwrapper;
  lastUsed: number;
}

/**
 * Parses a stored key; a key we cannot read is the server's fault, never the client's: it throws
 * KeyUnwrapError (answered 503 and logged), never InvalidEnvelopeError.
 */
export function parseSessionKey(session: SessionRecord, keyWrap: KeyWrap = NO_KEY_WRAP): KeyUnwrapper {
  const privateKey = keyWrap.unwrap(session.private_key);
  try {
    return rsaOaepUnwrapper(privateKey);
  } catch (error) {
    throw new KeyUnwrapError('stored session key is not an RSA private key', { cause: error });
  }
}

export class SessionKeyCache {
  /** Insertion order doubles as recency, as in CachingUnwrapper. */
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;

  constructor(private readonly options: KeyCacheOptions) {
    this.now = options.now ?? Date.now;
  }

  /**
   * The unwrapper for this session, parsed once. `clientKey` must be the key the record was
   * read under. Throws (not InvalidEnvelopeError) if the stored key cannot be parsed.
   */
  unwrapperFor(clientKey: string, session: SessionRecord): KeyUnwrapper {
    if (this.options.maxSessions <= 0) return parseSessionKey(session, this.options.keyWrap);
    const now = this.now();
    this.dropIdle(now);
    const entry = this.entries.get(clientKey);
    if (entry !== undefined) {
      this.entries.delete(clientKey);
      if (entry.createdAt === session.created_at && entry.privateKeyPem === session.private_key) {
        entry.lastUsed = now;
        this.entries.set(clientKey, entry);
        return entry.unwrapper;
      }
      entry.unwrapper.clear();
    }
    const fresh: Entry = {
      createdAt: session.created_at,
      privateKeyPem: session.private_key,
      unwrapper: new CachingUnwrapper(parseSessionKey(session, this.options.keyWrap), this.options.maxKeysPerSession),
      lastUsed: now,
    };
    this.entries.set(clientKey, fresh);
    while (this.entries.size > this.options.maxSessions) this.evict(this.entries.keys().next().value as string);
    return fresh.unwrapper;
  }

  /** Forgets a session: on logout, when it is found gone, or when a new one is made for the key. */
  evict(clientKey: string): void {
    const entry = this.entries.get(clientKey);
    if (entry === undefined) return;
    this.entries.delete(clientKey);
    entry.unwrapper.clear();
  }

  clear(): void {
    for (const clientKey of [...this.entries.keys()]) this.evict(clientKey);
  }

  /** Sessions held, and AES keys held over all of them. */
  stats(): { sessions: number; aesKeys: number } {
    let aesKeys = 0;
    for (const entry of this.entries.values()) aesKeys += entry.unwrapper.size;
    return { sessions: this.entries.size, aesKeys };
  }

  /** Oldest first, so this stops at the first entry still in use: O(1) when nothing is idle. */
  private dropIdle(now: number): void {
    if (this.options.idleMs <= 0) return;
    for (const [clientKey, entry] of this.entries) {
      if (now - entry.lastUsed < this.options.idleMs) break;
      this.evict(clientKey);
    }
  }
}
