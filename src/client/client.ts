/**
 * The device's side of SPEC §1: auth, send, logout, with the protocol's awkward corners
 * handled here so a device author does not have to.
 */
import { Code, Message } from '../protocol/answers.js';
import { DEVICE_ID_PATTERN, MAX_KEY_LENGTH } from '../protocol/client-key.js';
import { keyReuseLimits, ReusableContentKey, type KeyReuseLimits, type KeyReuseOptions } from './content-key.js';
import { buildEnvelope, buildEnvelopeUnder, importPublicKey, unixMinute, type ContentEncryption, type Envelope, type Minute, type OaepHash } from './envelope.js';
import {
  AlreadyAuthError,
  BadRequestError,
  ExpiredError,
  InvalidArgumentError,
  InvalidMessageError,
  NetworkError,
  NotFoundError,
  ProtocolError,
  RateLimitedError,
  SecureMessageError,
  UnavailableError,
} from './errors.js';
import { backoffDelay, DEFAULT_RETRY_POLICY, sleep as defaultSleep, type RetryPolicy } from './retry.js';
import { apiEndpoint, postForm, type FetchLike, type Reply } from './transport.js';

/** What the client holds after an auth: keep it to send later without a new auth. */
export interface Session {
  /** The session's RSA public key, PEM SubjectPublicKeyInfo, as the server sent it. */
  publicKey: string;
  /** The device's name in WordPress. */
  name: string;
}

export interface ClientOptions {
  /** The server's base URL (`/api` is appended) or the full URL of its /api endpoint. */
  server: string;
  /** The client key: the user's UUID followed directly by the device id (see `clientKey`). */
  key: string;
  /**
   * The device's secret (SPEC §10), sent with every auth and logout; needed when its directory
   * entry holds `secret_sha256`. Keep it out of logs and command lines.
   */
  secret?: string;
  /** A session saved from an earlier run (see `onSession`); without it the first send authenticates. */
  session?: Session | null;
  /** Content encryption of `send` unless told otherwise: `AES-GCM` (default) or `AES-CBC`. */
  enc?: ContentEncryption;
  /** RSA-OAEP hash of `send` unless told otherwise: `SHA-256` (default) or `SHA-1`. */
  oaepHash?: OaepHash;
  retry?: Partial<RetryPolicy>;
  /** Per request, default 15000. A request that times out counts as a lost answer and is retried. */
  timeoutMs?: number;
  /** Called whenever the held session changes (new key, or none), e.g. to save it. Errors it throws are not caught. */
  onSession?: (session: Session | null) => void | Promise<void>;
  /**
   * Issue 15: AES-GCM sends reuse one wrapped AES-256 key per session (and OAEP hash), each message
   * under a fresh random 96-bit IV, so the server skips the RSA step for all but the first. A new
   * key is wrapped after `maxMessages` messages (default 65,536), after `maxAgeMs` (default one
   * hour) and for every new session. `false`: a new key for every message, as before. AES-CBC
   * never reuses a key. See content-key.ts and docs/SECURITY.md.
   */
  keyReuse?: KeyReuseOptions | false;
  /** Default: globalThis.fetch. */
  fetch?: FetchLike;
  /** For tests: how to wait, and where the jitter comes from. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  /** For tests: the clock of keyReuse's maxAgeMs (default Date.now). */
  now?: () => number;
}

export interface SendOptions {
  /** Default: the current Unix minute. Messages with the same payload and minute share one id. */
  minute?: Minute;
  enc?: ContentEncryption;
  oaepHash?: OaepHash;
  signal?: AbortSignal;
}

export interface SendResult {
  /** The message id (SPEC §6), as the server computed it. */
  id: string;
  /** True when the server already held this message (a retry after a lost answer, or the same payload twice in one minute). */
  duplicate: boolean;
  minute: Minute;
}

export interface CallOptions {
  signal?: AbortSignal;
}

const DEFAULT_TIMEOUT_MS = 15_000;

/** Joins a user's UUID and a device id into a client key (SPEC §2), checking the device id's grammar. */
export function clientKey(userId: string, deviceId: string): string {
  if (userId === '') throw new InvalidArgumentError('the user id is empty');
  if (!DEVICE_ID_PATTERN.test(deviceId)) {
    throw new InvalidArgumentError('a device id is 1 to 64 characters of A-Z a-z 0-9 . _ : -');
  }
  const key = `${userId}${deviceId}`;
  if (key.length > MAX_KEY_LENGTH) throw new InvalidArgumentError(`a client key is at most ${MAX_KEY_LENGTH} characters`);
  return key;
}

function isSession(value: unknown): value is Session {
  if (typeof value !== 'object' || value === null) return false;
  const s = value as Record<string, unknown>;
  return typeof s.publicKey === 'string' && typeof s.name === 'string';
}

export class SecureMessageClient {
  readonly key: string;
  readonly endpoint: URL;
  readonly #secret: string | undefined;
  #session: Session | null;
  /** Imported public keys of the held session, per OAEP hash; dropped with the session. */
  #keys = new Map<OaepHash, Promise<CryptoKey>>();
  /** The held session's reusable AES-GCM keys (issue 15), per OAEP hash; dropped with the session. */
  #contentKeys = new Map<OaepHash, Promise<ReusableContentKey>>();
  readonly #keyReuse: KeyReuseLimits | null;
  readonly #now: () => number;
  /** One auth at a time: two concurrent ones would log each other out (SPEC §4: one session per key). */
  #authing: Promise<Session> | null = null;
  readonly #enc: ContentEncryption;
  readonly #oaepHash: OaepHash;
  readonly #policy: RetryPolicy;
  readonly #timeoutMs: number;
  readonly #fetch: FetchLike;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #random: () => number;
  readonly #onSession: ((session: Session | null) => void | Promise<void>) | undefined;

  constructor(options: ClientOptions) {
    try {
      this.endpoint = apiEndpoint(options.server);
    } catch (cause) {
      throw new InvalidArgumentError(`server must be an http(s) URL (got ${JSON.stringify(options.server)})`, { cause });
    }
    if (typeof options.key !== 'string' || options.key === '' || options.key.length > MAX_KEY_LENGTH) {
      throw new InvalidArgumentError(`key must be 1 to ${MAX_KEY_LENGTH} characters: the user UUID followed by the device id`);
    }
    if (options.session != null && !isSession(options.session)) {
      throw new InvalidArgumentError('session must be { publicKey, name } as given to onSession');
    }
    if (options.secret !== undefined && (typeof options.secret !== 'string' || options.secret === '')) {
      throw new InvalidArgumentError('secret must be a non-empty string');
    }
    this.key = options.key;
    this.#secret = options.secret;
    this.#session = options.session ?? null;
    this.#enc = options.enc ?? 'AES-GCM';
    this.#oaepHash = options.oaepHash ?? 'SHA-256';
    this.#policy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    if (!(Number.isInteger(this.#policy.attempts) && this.#policy.attempts >= 1)) {
      throw new InvalidArgumentError('retry.attempts must be a whole number of at least 1');
    }
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const fetchFn = options.fetch ?? globalThis.fetch;
    if (typeof fetchFn !== 'function') throw new InvalidArgumentError('no fetch in this runtime; pass options.fetch');
    // Bound, so a browser's fetch is not called with the client as `this` (an "Illegal invocation").
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#sleep = options.sleep ?? defaultSleep;
    this.#random = options.random ?? Math.random;
    this.#onSession = options.onSession;
    this.#keyReuse = keyReuseLimits(options.keyReuse);
    this.#now = options.now ?? Date.now;
  }

  /** The session held in memory, or null. */
  get session(): Session | null {
    return this.#session;
  }

  /**
   * Makes sure the server has a session whose key this client holds. `already auth` while holding
   * no key (the key was lost, or an answer was) is repaired by a logout and a new auth.
   */
  async auth(options: CallOptions = {}): Promise<Session> {
    this.#authing ??= this.#auth(options.signal).finally(() => {
      this.#authing = null;
    });
    return this.#authing;
  }

  /**
   * Encrypts and submits one message. Authenticates first when no session is held; re-authenticates
   * and resends once when the session is gone (`not found`: expired, logged out, its device
   * rechecked) or was replaced by another party's auth (`invalid message`: the envelope was made
   * for a key the server no longer holds); resends the same envelope when an answer is lost.
   * A resend after a stored copy is `duplicate`, never a second copy: the id is content-derived.
   */
  async send(payload: string | Uint8Array, options: SendOptions = {}): Promise<SendResult> {
    const minute = options.minute ?? unixMinute();
    const enc = options.enc ?? this.#enc;
    const oaepHash = options.oaepHash ?? this.#oaepHash;
    const signal = options.signal;

    let session = this.#session ?? (await this.auth({ signal }));
    for (let round = 0; ; round++) {
      // Built once per session: every retry of a lost answer sends these very bytes.
      const envelope = await this.#envelope(session, payload, { minute, enc, oaepHash });
      const reply = await this.#request({ key: this.key, message: envelope.message }, signal);
      const { body } = reply;
      if (reply.status === 200 && (body.code === Code.ok || body.code === Code.already) && typeof body.id === 'string') {
        return { id: body.id, duplicate: body.code === Code.already, minute };
      }
      if (reply.status === 200 && body.code === Code.notFound) {
        // The session expired or was deleted on the server: a new one, and the message once more.
        if (round > 0) throw new NotFoundError('the server lost the session again right after a new auth', this.#details(reply));
        session = await this.#renewSession(session, signal);
        continue;
      }
      if (round === 0 && reply.status === 400 && body.message === Message.invalidMessage) {
        // Most likely another party authenticated with this key and the server now holds its
        // session, not ours: end that one, authenticate (with our secret) and send once more.
        // A second `invalid message` under a fresh session is the envelope's own fault.
        session = await this.#replaceSession(session, signal);
        continue;
      }
      throw this.#failure(reply);
    }
  }

  /** Ends the session on the server and forgets the key. True when a session was deleted, false when there was none. */
  async logout(options: CallOptions = {}): Promise<boolean> {
    // A lost answer retried gets `not found`: the first attempt did the work, which is fine.
    const reply = await this.#request(this.#statusFields('off'), options.signal);
    if (reply.status === 200 && (reply.body.code === Code.ok || reply.body.code === Code.notFound)) {
      await this.#setSession(null);
      return reply.body.code === Code.ok;
    }
    throw this.#failure(reply);
  }

  /** The fields of an auth or logout: the key, the status, and the secret when the client has one. */
  #statusFields(status: 'on' | 'off'): Record<string, string> {
    return this.#secret === undefined ? { key: this.key, status } : { key: this.key, status, secret: this.#secret };
  }

  async #auth(signal: AbortSignal | undefined): Promise<Session> {
    const first = await this.#request(this.#statusFields('on'), signal);
    if (first.status === 200 && first.body.code === Code.already && this.#session !== null) return this.#session;
    if (first.status === 200 && first.body.code === Code.already) {
      // The server has a session whose key we do not hold: end it and start ours.
      const out = await this.#request(this.#statusFields('off'), signal);
      if (!(out.status === 200 && (out.body.code === Code.ok || out.body.code === Code.notFound))) throw this.#failure(out);
      const second = await this.#request(this.#statusFields('on'), signal);
      if (second.status === 200 && second.body.code === Code.already) {
        throw new AlreadyAuthError('another client authenticated with this key at the same time', this.#details(second));
      }
      return this.#authenticated(second);
    }
    return this.#authenticated(first);
  }

  async #authenticated(reply: Reply): Promise<Session> {
    const { body } = reply;
    if (reply.status === 200 && body.code === Code.ok) {
      if (!body.message.includes('-----BEGIN PUBLIC KEY-----')) {
        throw new ProtocolError('the auth answer holds no PEM public key', this.#details(reply));
      }
      const session: Session = { publicKey: body.message, name: typeof body.name === 'string' ? body.name : '' };
      await this.#setSession(session);
      return session;
    }
    if (reply.status === 200 && body.code === Code.notFound) {
      throw new NotFoundError(
        'the server knows no such device for this key: it was removed or revoked, or its secret is missing or wrong',
        this.#details(reply),
      );
    }
    throw this.#failure(reply);
  }

  /**
   * A session in place of `stale`, which the server no longer holds for us: the server's session
   * for this key (another party's) is ended, then ours is opened. Another call that already did
   * this is joined rather than repeated.
   */
  async #replaceSession(stale: Session, signal: AbortSignal | undefined): Promise<Session> {
    if (this.#session !== null && this.#session !== stale) return this.#session;
    if (this.#authing === null && this.#session === stale) {
      await this.#setSession(null);
      this.#authing = (async () => {
        const out = await this.#request(this.#statusFields('off'), signal);
        if (!(out.status === 200 && (out.body.code === Code.ok || out.body.code === Code.notFound))) throw this.#failure(out);
        return this.#auth(signal);
      })().finally(() => {
        this.#authing = null;
      });
    }
    return this.auth({ signal });
  }

  /** A session other than `stale`: the one another call just made, or a new auth. */
  async #renewSession(stale: Session, signal: AbortSignal | undefined): Promise<Session> {
    if (this.#session !== null && this.#session !== stale) return this.#session;
    if (this.#authing === null && this.#session === stale) await this.#setSession(null);
    return this.auth({ signal });
  }

  async #setSession(session: Session | null): Promise<void> {
    if (session === this.#session) return;
    this.#session = session;
    this.#keys.clear();
    // A new session gets a new content key, wrapped for its own public key.
    this.#contentKeys.clear();
    await this.#onSession?.(session);
  }

  /** The envelope of one send: under the session's reusable key for AES-GCM (issue 15), else under a fresh key. */
  async #envelope(session: Session, payload: string | Uint8Array, options: { minute: Minute; enc: ContentEncryption; oaepHash: OaepHash }): Promise<Envelope> {
    const publicKey = await this.#publicKey(session, options.oaepHash);
    const contentKey = options.enc === 'AES-GCM' ? await this.#contentKey(session, publicKey, options.oaepHash) : null;
    if (contentKey === null) return buildEnvelope(publicKey, payload, options);
    return buildEnvelopeUnder(contentKey, payload, { minute: options.minute });
  }

  /**
   * A content key of the held session with one use reserved for the caller, wrapping a new one
   * when there is none or the last is used up or too old; null when reuse is off or `session`
   * is no longer the one held (that send then gets a key of its own).
   */
  async #contentKey(session: Session, publicKey: CryptoKey, oaepHash: OaepHash): Promise<ReusableContentKey | null> {
    const limits = this.#keyReuse;
    if (limits === null) return null;
    for (;;) {
      if (session !== this.#session) return null;
      let pending = this.#contentKeys.get(oaepHash);
      if (pending === undefined) {
        const wrapping = ReusableContentKey.wrap(publicKey, oaepHash, limits, this.#now());
        // A failed wrap is not kept, so the next send tries again.
        wrapping.catch(() => {
          if (this.#contentKeys.get(oaepHash) === wrapping) this.#contentKeys.delete(oaepHash);
        });
        this.#contentKeys.set(oaepHash, wrapping);
        pending = wrapping;
      }
      const key = await pending;
      if (session !== this.#session) return null;
      if (key.reserve(this.#now())) return key;
      // Used up or too old: the first caller to see it replaces it; the others wait for the new one.
      if (this.#contentKeys.get(oaepHash) === pending) this.#contentKeys.delete(oaepHash);
    }
  }

  #publicKey(session: Session, oaepHash: OaepHash): Promise<CryptoKey> {
    if (session !== this.#session) return importPublicKey(session.publicKey, oaepHash);
    let key = this.#keys.get(oaepHash);
    if (key === undefined) {
      key = importPublicKey(session.publicKey, oaepHash);
      // A failed import is not cached, so a later call can try again.
      key.catch(() => this.#keys.delete(oaepHash));
      this.#keys.set(oaepHash, key);
    }
    return key;
  }

  /** One protocol request, retried on a lost answer, 429 and 503 within the retry policy. */
  async #request(fields: Record<string, string>, signal: AbortSignal | undefined): Promise<Reply> {
    const policy = this.#policy;
    for (let attempt = 1; ; attempt++) {
      let reply: Reply;
      try {
        reply = await postForm(this.endpoint, fields, { fetch: this.#fetch, timeoutMs: this.#timeoutMs, signal });
      } catch (error) {
        if (!(error instanceof NetworkError) || attempt >= policy.attempts) throw error;
        await this.#sleep(backoffDelay(policy, attempt - 1, undefined, this.#random), signal);
        continue;
      }
      const transient = reply.body.code === Code.tooMany || reply.body.code === Code.unavailable || reply.status === 429 || reply.status === 503;
      if (!transient) return reply;
      const tooLong = reply.retryAfterMs !== undefined && reply.retryAfterMs > policy.maxRetryAfterMs;
      if (attempt >= policy.attempts || tooLong) throw this.#failure(reply);
      await this.#sleep(backoffDelay(policy, attempt - 1, reply.retryAfterMs, this.#random), signal);
    }
  }

  #details(reply: Reply) {
    return { status: reply.status, answer: reply.body, retryAfterMs: reply.retryAfterMs };
  }

  /** The typed error for an answer the calls above do not turn into a result. */
  #failure(reply: Reply): SecureMessageError {
    const { body } = reply;
    const details = this.#details(reply);
    if (reply.status === 429 || body.code === Code.tooMany) {
      return new RateLimitedError('the server is rate limiting this client; try again later', details);
    }
    if (reply.status === 503 || body.code === Code.unavailable) {
      return new UnavailableError('the server is unavailable; try again later', details);
    }
    if (body.code === Code.badRequest && body.message === Message.invalidMessage) {
      return new InvalidMessageError('the server could not use the envelope (wrong key, or not an envelope of SPEC §5)', details);
    }
    if (body.code === Code.badRequest && body.message === Message.expired) {
      return new ExpiredError("the message's minute is outside the server's freshness window: check this device's clock", details);
    }
    if (body.code === Code.badRequest) {
      return new BadRequestError(`bad request${body.error === undefined ? '' : `: ${body.error}`}`, details);
    }
    return new ProtocolError(`unexpected answer (HTTP ${reply.status}, code ${body.code}, "${body.message.slice(0, 80)}")`, details);
  }
}
