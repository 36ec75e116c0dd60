/**
 * Issue 15: an accepted submit's writes (src/store/accepted-message.ts) on Redis in two steps
 * instead of four commands: the session side (the AES-CBC claim and the renewal of the session
 * and its guard hash) is one script on REDIS_AUTH_DB (scripts/acceptSubmit-2.lua, both keys of
 * one client key), and the record with its log entry stays the one script on REDIS_MAIN_DB it
 * was (storeMessage-4.lua, through the message store). Without a claim the two run at once, as
 * the store and the renewals did before; with one, the claim decides first, as before.
 */
import type { Logger } from 'pino';
import type { AcceptedMessage, AcceptedMessageStore, AcceptOutcome } from '../../store/accepted-message.js';
import type { MessageStore } from '../../store/store.js';
import { orUnavailable } from '../unavailable.js';
import type { RedisClient } from './connection.js';
import type { RedisKeys } from './keys.js';
import { script, scriptsOn, type ScriptRunner } from './scripts.js';
import type { RedisSessionGuardStore } from './session-guard.js';

const BACKEND = 'redis';

export class RedisAcceptedMessageStore implements AcceptedMessageStore {
  private readonly acceptSubmit: ScriptRunner;

  /** `sessions` is the REDIS_AUTH_DB connection; `messages` writes REDIS_MAIN_DB. */
  constructor(
    sessions: RedisClient,
    private readonly keys: RedisKeys,
    private readonly messages: MessageStore,
    private readonly guard: RedisSessionGuardStore,
    private readonly log: Logger,
  ) {
    this.acceptSubmit = script(scriptsOn(sessions), 'acceptSubmit');
  }

  async accept(message: AcceptedMessage): Promise<AcceptOutcome> {
    const { scope, record } = message;
    const sessionSide = (claim: string): Promise<unknown> =>
      orUnavailable(BACKEND, () =>
        this.acceptSubmit([this.keys.session(scope.clientKey), this.keys.sessionGuard(scope.clientKey)], [
          scope.createdAt,
          claim,
          record.id,
          message.sessionTtl,
        ]),
      );
    if (message.claim === null) {
      // Started first, so a failing store write still has it handled; its failure keeps the old expiry only.
      const renewal = sessionSide('').then(
        () => true,
        () => false,
      );
      const stored = await this.messages.putIfAbsent(record, message.messageTtl);
      return { kind: stored ? 'stored' : 'duplicate', renewed: await renewal };
    }
    // A failing claim fails the submit (503), as claimContent did: it must not be skipped.
    const first = await sessionSide(message.claim);
    if (typeof first === 'string') return { kind: 'replay', firstId: first };
    try {
      const stored = await this.messages.putIfAbsent(record, message.messageTtl);
      return { kind: stored ? 'stored' : 'duplicate', renewed: true };
    } catch (error) {
      // Let a retry claim it again (the embedded store rolls the claim back instead).
      await this.guard.releaseContent(scope, message.claim, record.id).catch((releaseError: unknown) => {
        // The retry then gets `duplicate` with an id whose record may be missing; said in docs/PROTOCOL.md.
        this.log.error({ err: releaseError }, 'AES-CBC content claim not released after a failed store');
      });
      throw error;
    }
  }
}
