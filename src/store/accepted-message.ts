/**
 * The writes of one accepted submit as one store step (the protocol's only way to store a
 * message), so a backend can make them one transaction (the embedded store: one group commit and
 * one WAL sync instead of two) or fewer round trips (Redis: the session's renewal and its AES-CBC
 * claim in one script).
 *
 * The step means SessionGuardStore.claimContent, MessageStore.putIfAbsent, SessionStore.renew and
 * SessionGuardStore.renew, in that order, with their answers:
 *   1. `claim` given (SPEC §11, AES-CBC content): claimed before in this session with another id
 *      → `replay` with that id; nothing else is written (no record, no renewal).
 *   2. The record is stored if absent, with its log entry (SPEC §6, §9): `stored` or `duplicate`.
 *      Resolves only once durable, as putIfAbsent. A record that cannot be stored leaves no claim
 *      behind (undone with it, or released), so a retry is not taken for a replay.
 *   3. The session and its hardening state are renewed for `sessionTtl` (SPEC §4: each submit
 *      renews it), also for a duplicate. A failed renewal changes no answer: `renewed` is false.
 * Every method may throw BackendUnavailableError (the answer is then 503).
 */
import type { SessionScope } from './session-guard.js';
import type { MessageRecord, TtlSeconds } from './store.js';

export interface AcceptedMessage {
  /** The session the envelope was opened with (its client key and created_at). */
  scope: SessionScope;
  record: MessageRecord;
  messageTtl: TtlSeconds;
  sessionTtl: TtlSeconds;
  /** SPEC §11: the content fingerprint to claim first; null = no claim (AES-GCM, or no guard). */
  claim: string | null;
}

export type AcceptOutcome =
  | { kind: 'stored'; renewed: boolean }
  | { kind: 'duplicate'; renewed: boolean }
  /** The content was claimed in this session by `firstId`: answered `duplicate` with it. */
  | { kind: 'replay'; firstId: string };

export interface AcceptedMessageStore {
  accept(message: AcceptedMessage): Promise<AcceptOutcome>;
}
