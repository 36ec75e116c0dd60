/**
 * The protocol side of issue 10 (SPEC §10's per-session limit and §11), so that service.ts only
 * calls it:
 * - the envelope allowlists, handed to the (pure) envelope layer;
 * - the AES-CBC replay guard: in a session, the same encryptedKey + iv + ciphertext is accepted
 *   once; resent under another `minute` it is `duplicate` with the id first stored;
 * - INVALID_ENVELOPE_LIMIT: a session that got that many `invalid message` answers is ended as if
 *   revoked (deleted, device set `off`); a new auth starts a fresh count;
 * - keys at rest: new session keys are wrapped under KEY_ENCRYPTION_KEY (src/session/key-wrap.ts);
 * - concurrent auths for one client key share one key pair (src/session/shared-take.ts).
 */
import type { Logger } from 'pino';
import type { Directory } from '../directory/directory.js';
import { ACCEPT_ALL, type EnvelopePolicy, type OpenedEnvelope } from '../envelope/index.js';
import type { SessionKeyCache } from '../session/key-cache.js';
import type { SessionKeySource, TakenKeyPair } from '../session/key-pair.js';
import { NO_KEY_WRAP, type KeyWrap } from '../session/key-wrap.js';
import { SharedKeyTake, type SharedPair } from '../session/shared-take.js';
import type { SessionGuardStore, SessionScope } from '../store/session-guard.js';
import type { SessionRecord, SessionStore, TtlSeconds } from '../store/store.js';

export interface HardeningOptions {
  policy?: EnvelopePolicy;
  /** Per-session state (replay claims, invalid count); absent = neither guard runs. */
  guard?: SessionGuardStore;
  /** `invalid message` answers a session may get; 0 = no limit. */
  invalidEnvelopeLimit?: number;
  keyWrap?: KeyWrap;
  log: Logger;
}

/** What ending a session needs; the service's own dependencies. */
export interface SessionEnding {
  sessions: SessionStore;
  directory: Directory;
  keyCache: SessionKeyCache;
}

/** A pair for one auth, in the form its record stores. */
export interface AuthPair extends SharedPair {
  /** The private key as the session record holds it (wrapped when KEY_ENCRYPTION_KEY is set). */
  storedPrivateKey: string;
}

function scopeOf(clientKey: string, session: SessionRecord): SessionScope {
  return { clientKey, createdAt: session.created_at };
}

export class SessionHardening {
  readonly policy: EnvelopePolicy;
  private readonly keyWrap: KeyWrap;
  private readonly limit: number;
  private shared: SharedKeyTake | undefined;
  private readonly wrapped = new WeakMap<TakenKeyPair, string>();

  constructor(private readonly options: HardeningOptions) {
    this.policy = options.policy ?? ACCEPT_ALL;
    this.keyWrap = options.keyWrap ?? NO_KEY_WRAP;
    this.limit = options.invalidEnvelopeLimit ?? 0;
  }

  /** SPEC §11: the pair for an auth, shared with concurrent auths of the same key. */
  async takePair(keys: SessionKeySource, clientKey: string): Promise<AuthPair> {
    this.shared ??= new SharedKeyTake(keys, this.options.log);
    const shared = await this.shared.take(clientKey);
    // Wrapped once per pair, not per sharer: the PBKDF2 and encryption cost ~2 ms. A pair from
    // the durable pool (issue 15) is stored in its record's form already: no crypto at all.
    const pair = shared.pair;
    let stored = 'storedPrivateKey' in pair ? pair.storedPrivateKey : this.wrapped.get(pair);
    if (stored === undefined && 'privateKeyPem' in pair) {
      try {
        stored = this.keyWrap.wrap(pair.privateKeyPem);
      } catch (error) {
        shared.release();
        throw error;
      }
      this.wrapped.set(pair, stored);
    }
    if (stored === undefined) throw new Error('a key pair with no private key');
    return {
      pair: shared.pair,
      get used() {
        return shared.used;
      },
      markUsed: () => shared.markUsed(),
      release: () => shared.release(),
      storedPrivateKey: stored,
    };
  }

  /**
   * SPEC §11: the content fingerprint the store claims before it stores a message (an
   * AcceptedMessageStore answers `replay` when another id holds it), or null for none. Only
   * AES-CBC content is claimed: GCM authenticates the minute, so a changed minute fails there.
   */
  contentClaim(opened: OpenedEnvelope): string | null {
    return this.options.guard === undefined || opened.enc !== 'AES-CBC' ? null : opened.contentFingerprint;
  }

  /**
   * SPEC §10: counts an `invalid message` answer; at the limit the session ends as if revoked.
   * A failing count throws (503): the oracle must not get free queries while the store is flaky.
   */
  async envelopeRefused(clientKey: string, session: SessionRecord, ttl: TtlSeconds, ending: SessionEnding): Promise<void> {
    if (this.options.guard === undefined || this.limit <= 0) return;
    const count = await this.options.guard.countInvalid(scopeOf(clientKey, session), ttl);
    if (count < this.limit) return;
    this.options.log.warn({ limit: this.limit }, 'session ended: too many invalid envelopes (INVALID_ENVELOPE_LIMIT)');
    ending.keyCache.evict(clientKey);
    await ending.sessions.delete(clientKey);
    await this.sessionGone(clientKey);
    try {
      const wpUserId = await ending.directory.findUser(session.user_id);
      if (wpUserId !== null) await ending.directory.setStatus(wpUserId, session.device_id, 'off');
    } catch (error) {
      this.options.log.error({ err: error, deviceId: session.device_id }, 'session ended but device status not set off');
    }
  }

  /** A session ended (logout, the limit): its state goes. Never fails the request. */
  async sessionGone(clientKey: string): Promise<void> {
    if (this.options.guard === undefined) return;
    try {
      await this.options.guard.forget(clientKey);
    } catch (error) {
      // Harmless for the protocol: state is scoped by created_at, and it expires with the session.
      this.options.log.warn({ err: error }, 'session hardening state not removed');
    }
  }
}
