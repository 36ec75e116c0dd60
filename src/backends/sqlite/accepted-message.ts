/**
 * Issue 15: an accepted submit's writes (src/store/accepted-message.ts) as ONE savepoint in the
 * WriteBatcher's group transaction: the AES-CBC claim, the record with its log entry, and the
 * session's renewal commit and are synced together. Before, the claim was a group commit and a
 * WAL sync of its own ahead of the record's: two transactions, two syncs and two waits per CBC
 * submit. The hardening state needs no renewal here (its rows live as long as the session row).
 *
 * Atomic as before: a record that cannot be stored rolls the claim back with it (the savepoint),
 * which is what releaseContent did; nothing is acknowledged before the group's WAL sync.
 */
import type { AcceptedMessage, AcceptedMessageStore, AcceptOutcome } from '../../store/accepted-message.js';
import { orUnavailable } from '../unavailable.js';
import type { SqliteLoggedMessageStore } from './message-log.js';
import type { SqliteSessionGuardStore } from './session-guard.js';
import type { SqliteSessionStore } from './store.js';
import { isBusy, type WriteBatcher } from './write-batch.js';

const BACKEND = 'sqlite';

export class SqliteAcceptedMessageStore implements AcceptedMessageStore {
  private readonly step: (message: AcceptedMessage) => AcceptOutcome;

  constructor(
    private readonly writes: WriteBatcher,
    parts: { sessions: SqliteSessionStore; messages: SqliteLoggedMessageStore; guard: SqliteSessionGuardStore },
  ) {
    // A savepoint inside the group transaction: a failure half way undoes this submit's writes alone.
    this.step = writes.db.transaction((message: AcceptedMessage): AcceptOutcome => {
      const id = message.record.id;
      if (message.claim !== null) {
        const first = parts.guard.claimNow(message.scope, message.claim, id);
        // The same id is the ordinary duplicate path of SPEC §6: the record decides below.
        if (first !== null && first !== id) return { kind: 'replay', firstId: first };
      }
      const stored = parts.messages.storeNow(message.record, message.messageTtl);
      let renewed = true;
      try {
        parts.sessions.renewNow(message.scope.clientKey, message.sessionTtl);
      } catch (error) {
        // A lost lock retries the whole group; any other failure only keeps the old expiry.
        if (isBusy(error)) throw error;
        renewed = false;
      }
      return { kind: stored ? 'stored' : 'duplicate', renewed };
    });
  }

  accept(message: AcceptedMessage): Promise<AcceptOutcome> {
    return orUnavailable(BACKEND, () => this.writes.run(() => this.step(message)));
  }
}
