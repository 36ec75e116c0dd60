/**
 * The protocol rules of SPEC §1–§6: auth, logout and submit, over the directory, the
 * session and message stores and the envelope layer. Knows nothing of HTTP or of which
 * backend is behind each interface.
 */
import type { Logger } from 'pino';
import { deviceAlive, deviceOpens, isFailure, NO_CREDENTIAL_RULES, type BudgetedOperation, type CredentialRules } from '../credentials/index.js';
import type { Directory } from '../directory/directory.js';
import { InvalidEnvelopeError, openEnvelope } from '../envelope/index.js';
import type { SessionKeyCache } from '../session/key-cache.js';
import type { SessionKeySource } from '../session/key-pair.js';
import type { AcceptedMessageStore } from '../store/accepted-message.js';
import type { MessageRecord, SessionRecord, SessionStore } from '../store/store.js';
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
  /** An accepted submit's AES-CBC claim, record + log entry and session renewal, as one store step. */
  accepted: AcceptedMessageStore;
  keys: SessionKeySource;
  settings: ProtocolSettings;
  log: Logger;
  /** Parsed session keys and unwrapped AES keys (sized by KEY_CACHE_SESSIONS; 0 keeps nothing). */
  keyCache: SessionKeyCache;
  /** Milliseconds since the epoch; replaceable so tests can move time. */
  now?: () => number;
  /** SPEC §10: secrets, revocation rechecks, failure budgets; absent = none of the latter two. */
  credentials?: CredentialRules;
  /** Issue 10 (SPEC §10 per-session limit, §11); absent = allowlists open, no guards, keys stored plain. */
  hardening?: SessionHardening;
}

/** What a request carries beside its key (SPEC §10). */
export interface RequestContext {
  /** The form field `secret` (auth and logout). */
  secret?: string | undefined;
  /** The client's address as TRUST_PROXY resolves it, for the per-address failure budget. */
  address?: string | undefined;
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
  private readonly credentials: CredentialRules;
  private readonly hardening: SessionHardening;

  constructor(private readonly deps: ProtocolDependencies) {
    this.now = deps.now ?? Date.now;
    this.keyCache = deps.keyCache;
    this.credentials = deps.credentials ?? NO_CREDENTIAL_RULES;
    this.hardening = deps.hardening ?? new SessionHardening({ log: deps.log });
  }

  /** SPEC §4, §10: authenticate a device and open its session. */
  auth(keyText: string, context: RequestContext = {}): Promise<Outcome> {
    return this.withinBudget('auth', keyText, context, () => this.authenticate(keyText, context));
  }

  /** SPEC §4, §10: delete the session, then set the device off. */
  logout(keyText: string, context: RequestContext = {}): Promise<Outcome> {
    return this.withinBudget('logout', keyText, context, () => this.closeSession(keyText, context, true));
  }

  /**
   * SPEC §9 `DELETE /v1/sessions/<key>` (the site removed the device): a logout through the same
   * code path, so every rule logout keeps holds here too (a `revoked` status stays, the session's
   * hardening state goes), except that it needs no device secret (the site holds an API token)
   * and spends no failure budget (it is not a device's request).
   */
  endSession(keyText: string): Promise<Outcome> {
    return this.closeSession(keyText, {}, false);
  }

  /** SPEC §5, §6, §10: open an envelope and store its message once. */
  submit(keyText: string, message: string, context: RequestContext = {}): Promise<Outcome> {
    return this.withinBudget('submit', keyText, context, () => this.store(keyText, message));
  }

  /** SPEC §10: a spent budget is answered before the directory or the store is asked; failures spend it. */
  private async withinBudget(
    op: BudgetedOperation,
    keyText: string,
    context: RequestContext,
    run: () => Promise<Outcome>,
  ): Promise<Outcome> {
    const budget = this.credentials.budget;
    if (budget === null) return run();
    const refusal = await budget.refusal(keyText, context.address);
    if (refusal !== null) return { answer: refusal };
    const outcome = await run();
    if (isFailure(op, outcome.answer)) await budget.spend(keyText, context.address);
    return outcome;
  }

  private async authenticate(keyText: string, context: RequestContext): Promise<Outcome> {
    const { directory, sessions, keys, settings } = this.deps;
    const key = parseClientKey(keyText, settings.userIdLength);
    if (key === null) return { answer: answers.notFound() };
    // The directory is asked on every auth, also when a session exists: `already auth` must not
    // tell a caller without the secret that the device exists, and a removed or revoked device's
    // session ends here (SPEC §10: `not found`, never `already auth`).
    const [existing, device] = await Promise.all([
      sessions.get(key.key),
      directory.findDevice(key.userId, key.deviceId),
    ]);
    if (!deviceOpens(device, context.secret, this.credentials.secrets)) {
      if (existing !== null && !deviceAlive(device)) {
        this.keyCache.evict(key.key);
        await this.discardSession(key.key);
        await this.hardening.sessionGone(key.key);
      }
      return { answer: answers.notFound() };
    }
    // Cheap early answer for the common retry; the atomic create below still decides races.
    if (existing !== null) return { answer: answers.alreadyAuth() };

    // SPEC §11: concurrent auths of this key share one pair; it opens one session at most.
    const shared = await this.hardening.takePair(keys, key.key);
    let created: PromiseSettledResult<boolean>;
    let listed: PromiseSettledResult<boolean>;
    let marked: PromiseSettledResult<void>;
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
      [created, listed, marked] = await Promise.allSettled([
        sessions.create(key.key, record, settings.sessionTtlSeconds),
        directory.setStatus(device.wpUserId, key.deviceId, 'on'),
        // The directory was just asked: the session's first recheck is an interval away.
        this.credentials.revocation?.checked(key.key),
      ]);
      if (created.status === 'fulfilled' && created.value) shared.markUsed();
    } finally {
      shared.release();
    }
    if (marked.status === 'rejected') this.deps.log.warn({ err: marked.reason }, 'session recheck mark not written: it is rechecked early');
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

  private async closeSession(keyText: string, context: RequestContext, secretRequired: boolean): Promise<Outcome> {
    const { directory, sessions, settings, log } = this.deps;
    const key = parseClientKey(keyText, settings.userIdLength);
    if (key === null) return { answer: answers.notFound() };
    // SPEC §10: a device with a secret is logged out only with it. A device that is gone or
    // revoked has no secret to ask for, and its session should end anyway.
    const device = await directory.findDevice(key.userId, key.deviceId);
    const opens = deviceOpens(device, context.secret, this.credentials.secrets);
    if (secretRequired && deviceAlive(device) && !opens) return { answer: answers.notFound() };
    this.keyCache.evict(key.key);
    if (!(await sessions.delete(key.key))) {
      // No session (it expired, or an earlier attempt's delete ran after its 503): still `not
      // found`, but the device must not stay `on` with no session, which no later request fixes.
      if (device?.status === 'on') await this.offWithoutSession(key.key, device.wpUserId, key.deviceId);
      return { answer: answers.notFound() };
    }
    await this.hardening.sessionGone(key.key);
    try {
      // setStatus leaves a revoked status alone (SPEC §10: only WordPress or the admin lifts it).
      if (device !== null) await directory.setStatus(device.wpUserId, key.deviceId, 'off');
    } catch (error) {
      // The session is gone, which is what the client asked for; a retry could not fix the status
      // (it would find no session), so the answer stays "deleted" and the operator is told.
      log.error({ err: error, deviceId: key.deviceId }, 'session deleted but device status not set off');
    }
    return { answer: answers.deleted() };
  }

  private async store(keyText: string, message: string): Promise<Outcome> {
    const { sessions, settings, log } = this.deps;
    const key = parseClientKey(keyText, settings.userIdLength);
    if (key === null) return { answer: answers.notFound() };
    const revocation = this.credentials.revocation;
    // Both at once: with a positive interval the recheck claim is one store round trip beside the session's.
    const [session, recheckDue] = await Promise.all([sessions.get(key.key), revocation?.due(key.key) ?? false]);
    if (session === null) {
      // Expired or logged out through another process: its keys have no further use here.
      this.keyCache.evict(key.key);
      return { answer: answers.notFound() };
    }
    if (recheckDue && !(await this.deviceStillThere(key.key, session))) {
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
      await this.hardening.envelopeRefused(key.key, session, settings.sessionTtlSeconds, {
        sessions,
        directory: this.deps.directory,
        keyCache: this.keyCache,
      });
      return { answer: answers.invalidMessage(), detail: error.reason };
    }

    if (settings.minuteWindow > 0 && typeof opened.minute === 'number') {
      const serverMinute = Math.floor(this.now() / 60_000);
      if (Math.abs(opened.minute - serverMinute) > settings.minuteWindow) return { answer: answers.expired() };
    }

    const id = messageId(session.user_id, session.device_id, opened.canonicalMinute, opened.plaintextBytes);
    const record: MessageRecord = {
      id,
      user_id: session.user_id,
      device_id: session.device_id,
      device_name: session.device_name,
      minute: opened.minute,
      received_at: new Date(this.now()).toISOString(),
      payload: opened.plaintext,
    };
    // SPEC §6, §11, §4: the content claim, the record with its log entry, and the renewal.
    const outcome = await this.deps.accepted.accept({
      scope: { clientKey: key.key, createdAt: session.created_at },
      record,
      messageTtl: settings.messageTtlSeconds,
      sessionTtl: settings.sessionTtlSeconds,
      claim: this.hardening.contentClaim(opened),
    });
    if (outcome.kind === 'replay') return { answer: answers.duplicate(outcome.firstId) };
    // The session merely keeps its old expiry; the message's answer stands.
    if (!outcome.renewed) log.warn('session expiry not renewed');
    return { answer: outcome.kind === 'stored' ? answers.delivered(id) : answers.duplicate(id) };
  }

  /**
   * SPEC §10 recheck: the session's device is still in the directory and not revoked; otherwise
   * the session is deleted here. A directory that cannot answer leaves the recheck due for the
   * next request and answers 503, rather than serving a device that may have been removed.
   */
  private async deviceStillThere(key: string, session: SessionRecord): Promise<boolean> {
    // Until the session is known to stay or known to be gone, the claimed recheck is undone on any
    // failure, so the next request checks again rather than being served for another interval.
    const releaseOnFailure = async (error: unknown): Promise<never> => {
      await this.credentials.revocation?.release(key).catch(() => undefined);
      throw error;
    };
    const device = await this.deps.directory.findDevice(session.user_id, session.device_id).catch(releaseOnFailure);
    // REQUIRE_DEVICE_SECRET turned on later ends the sessions of devices without a secret too.
    const allowed = deviceAlive(device) && (device.secretSha256 !== null || !this.credentials.secrets.requireSecret);
    if (allowed) return true;
    this.keyCache.evict(key);
    await this.deps.sessions.delete(key).catch(releaseOnFailure);
    await this.hardening.sessionGone(key);
    this.deps.log.info({ deviceId: session.device_id }, 'session ended: its device was removed or revoked in the directory');
    return false;
  }

  /**
   * SPEC §3 for a logout that found no session: the device goes `off`. An auth racing it writes
   * its session before its `on`; so the session is looked for again after the `off`, and if one
   * is there by then, `on` is written back (the auth's own `on` may have come before the `off`).
   * Never fails the request: the answer is `not found` either way.
   */
  private async offWithoutSession(key: string, wpUserId: string, deviceId: string): Promise<void> {
    const { directory, sessions, log } = this.deps;
    try {
      await directory.setStatus(wpUserId, deviceId, 'off');
      if ((await sessions.get(key)) !== null) await directory.setStatus(wpUserId, deviceId, 'on');
    } catch (error) {
      log.warn({ err: error, deviceId }, 'logout found no session; device status not set off');
    }
  }

  /** Removes a session that must not stay (its status write failed, or its device is gone); never throws. */
  private async discardSession(key: string): Promise<void> {
    try {
      await this.deps.sessions.delete(key);
    } catch (error) {
      // Also reached for a removed or revoked device's session at auth: its recheck ends it later.
      this.deps.log.error({ err: error }, 'could not remove a session that must end');
    }
  }
}
