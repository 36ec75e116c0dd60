/**
 * The protocol rules of SPEC §1–§6: auth, logout and submit, over the directory, the
 * session and message stores and the envelope layer. Knows nothing of HTTP or of which
 * backend is behind each interface.
 */
import type { Logger } from 'pino';
import type { Directory } from '../directory/directory.js';
import { InvalidEnvelopeError, openEnvelope } from '../envelope/index.js';
import type { SessionKeyCache } from '../session/key-cache.js';
import type { SessionKeySource } from '../session/key-pair.js';
import type { MessageStore, SessionRecord, SessionStore } from '../store/store.js';
import { answers, type Answer } from './answers.js';
import { parseClientKey } from './client-key.js';
import { messageId } from './message-id.js';
import { SessionHardening } from './session-hardening.js';

export interface ProtocolSettings {
  userIdLength: number;
  sessionTtlSeconds: number;
  messageTtlSeconds: number;
  /** Minutes; 0 = no freshness check. */
  minuteWindow: number;
}

export interface ProtocolDependencies {
  directory: Directory;
  sessions: SessionStore;
  messages: MessageStore;
  keys: SessionKeySource;
  settings: ProtocolSettings;
  log: Logger;
  /** Parsed session keys and unwrapped AES keys (sized by KEY_CACHE_SESSIONS; 0 keeps nothing). */
  keyCache: SessionKeyCache;
  /** Milliseconds since the epoch; replaceable so tests can move time. */
  now?: () => number;
  /** Issue 10 (SPEC §10 per-session limit, §11); absent = allowlists open, no guards, keys stored plain. */
  hardening?: SessionHardening;
}

/** What the HTTP layer logs about an answer beyond its code; never secrets or payloads. */
export interface Outcome {
  answer: Answer;
  /** Why an envelope was refused, for debug logs only: the client always sees the same bytes. */
  detail?: string;
}

export class ProtocolService {
  private readonly now: () => number;
  private readonly keyCache: SessionKeyCache;
  private readonly hardening: SessionHardening;

  constructor(private readonly deps: ProtocolDependencies) {
    this.now = deps.now ?? Date.now;
    this.keyCache = deps.keyCache;
    this.hardening = deps.hardening ?? new SessionHardening({ log: deps.log });
  }

  /** SPEC §4: authenticate a device and open its session. */
  async auth(keyText: string): Promise<Outcome> {
    const { directory, sessions, keys, settings } = this.deps;
    const key = parseClientKey(keyText, settings.userIdLength);
    if (key === null) return { answer: answers.notFound() };
    // Cheap early answer for the common retry; the atomic create below still decides races.
    if ((await sessions.get(key.key)) !== null) return { answer: answers.alreadyAuth() };

    const device = await directory.findDevice(key.userId, key.deviceId);
    if (device === null) return { answer: answers.notFound() };

    // SPEC §11: concurrent auths of this key share one pair; it opens one session at most.
    const shared = await this.hardening.takePair(keys, key.key);
    let created: PromiseSettledResult<boolean>;
    let listed: PromiseSettledResult<boolean>;
    try {
      if (shared.used) return { answer: answers.alreadyAuth() };
      const record: SessionRecord = {
        user_id: key.userId,
        device_id: key.deviceId,
        device_name: device.deviceName,
        private_key: shared.storedPrivateKey,
        created_at: new Date(this.now()).toISOString(),
      };
      // Both writes start at once, the session first: a store that shares a commit between them
      // (the embedded one) then makes the auth one durable transaction, and separate backends
      // work in parallel. Only the session's outcome decides whether this auth won; a status set
      // `on` by an auth that lost to a concurrent one is the winner's status too (docs/PROTOCOL.md).
      [created, listed] = await Promise.allSettled([
        sessions.create(key.key, record, settings.sessionTtlSeconds),
        directory.setStatus(device.wpUserId, key.deviceId, 'on'),
      ]);
      if (created.status === 'fulfilled' && created.value) shared.markUsed();
    } finally {
      shared.release();
    }
    if (created.status === 'rejected') throw created.reason;
    if (!created.value) return { answer: answers.alreadyAuth() };
    // The cache would notice the older session's entry is stale anyway; this frees it now.
    this.keyCache.evict(key.key);

    // SPEC §4: a client never holds a key the server has lost, so a failed status write undoes the session.
    if (listed.status === 'rejected') {
      await this.discardSession(key.key);
      throw listed.reason;
    }
    if (!listed.value) {
      await this.discardSession(key.key);
      return { answer: answers.notFound() };
    }
    return { answer: answers.sessionCreated(shared.pair.publicKeyPem, device.deviceName) };
  }

  /** SPEC §4: delete the session, then set the device off. */
  async logout(keyText: string): Promise<Outcome> {
    const { directory, sessions, settings, log } = this.deps;
    const key = parseClientKey(keyText, settings.userIdLength);
    if (key === null) return { answer: answers.notFound() };
    this.keyCache.evict(key.key);
    if (!(await sessions.delete(key.key))) return { answer: answers.notFound() };
    await this.hardening.sessionGone(key.key);
    try {
      const wpUserId = await directory.findUser(key.userId);
      if (wpUserId !== null) await directory.setStatus(wpUserId, key.deviceId, 'off');
    } catch (error) {
      // The session is gone, which is what the client asked for; a retry could not fix the status
      // (it would find no session), so the answer stays "deleted" and the operator is told.
      log.error({ err: error, deviceId: key.deviceId }, 'session deleted but device status not set off');
    }
    return { answer: answers.deleted() };
  }

  /** SPEC §5, §6: open an envelope and store its message once. */
  async submit(keyText: string, message: string): Promise<Outcome> {
    const { sessions, messages, settings, log } = this.deps;
    const key = parseClientKey(keyText, settings.userIdLength);
    if (key === null) return { answer: answers.notFound() };
    const session = await sessions.get(key.key);
    if (session === null) {
      // Expired or logged out through another process: its keys have no further use here.
      this.keyCache.evict(key.key);
      return { answer: answers.notFound() };
    }

    // Outside openEnvelope: an unreadable stored key is our fault (503), not an invalid message.
    const unwrapper = this.keyCache.unwrapperFor(key.key, session);
    let opened;
    try {
      opened = openEnvelope(message, unwrapper, this.hardening.policy);
    } catch (error) {
      if (!(error instanceof InvalidEnvelopeError)) throw error;
      // SPEC §10: counted; the session ends at INVALID_ENVELOPE_LIMIT. The answer stays the same bytes.
      await this.hardening.envelopeRefused(key.key, session, settings.sessionTtlSeconds, { sessions, directory: this.deps.directory, keyCache: this.keyCache });
      return { answer: answers.invalidMessage(), detail: error.reason };
    }

    if (settings.minuteWindow > 0 && typeof opened.minute === 'number') {
      const serverMinute = Math.floor(this.now() / 60_000);
      if (Math.abs(opened.minute - serverMinute) > settings.minuteWindow) return { answer: answers.expired() };
    }

    const id = messageId(session.user_id, session.device_id, opened.canonicalMinute, opened.plaintextBytes);
    // SPEC §11: AES-CBC content already accepted in this session, under another minute.
    const firstId = await this.hardening.replayOf(key.key, session, opened, id, settings.sessionTtlSeconds);
    if (firstId !== null) return { answer: answers.duplicate(firstId) };
    // The renewal runs beside the store write rather than after it: a duplicate renews too, and
    // a failed renewal changes no answer, so nothing waits on its order; stores may then commit
    // both at once. It is started first so that a failing store write still has it handled.
    const renewal = Promise.all([
      sessions.renew(key.key, settings.sessionTtlSeconds).catch((error: unknown) => {
        // The session merely keeps its old expiry; the message's answer stands.
        log.warn({ err: error }, 'session expiry not renewed');
      }),
      this.hardening.renewed(key.key, settings.sessionTtlSeconds),
    ]);
    const stored = await messages
      .putIfAbsent(
      {
        id,
        user_id: session.user_id,
        device_id: session.device_id,
        device_name: session.device_name,
        minute: opened.minute,
        received_at: new Date(this.now()).toISOString(),
        payload: opened.plaintext,
      },
      settings.messageTtlSeconds,
    )
      .catch(async (error: unknown) => {
        await this.hardening.storeFailed(key.key, session, opened, id);
        throw error;
      });
    await renewal;
    return { answer: stored ? answers.delivered(id) : answers.duplicate(id) };
  }

  private async discardSession(key: string): Promise<void> {
    try {
      await this.deps.sessions.delete(key);
    } catch (error) {
      this.deps.log.error({ err: error }, 'could not remove a session whose directory update failed');
    }
  }
}
