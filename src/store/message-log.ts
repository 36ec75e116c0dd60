/**
 * SPEC §9: what the consumer side needs from a store, beside the MessageStore of store.ts.
 *
 * The log is ordered by storage: every record a submit stored (answered `delivered`) has one
 * entry, written in the same atomic step as the record, so no crash can leave a delivered record
 * without its entry. An entry whose record is gone (expired, deleted) is skipped by readers and
 * purged. A cursor is the decimal sequence number of an entry (1, 2, 3 …), opaque to consumers;
 * sequence numbers are never reused, so a cursor stays meaningful after purges.
 *
 * Every method may throw BackendUnavailableError.
 */
import type { MessageRecord } from './store.js';

/** One entry of a page: where it is in the log, and the §7 record it names. */
export interface LogEntry {
  cursor: string;
  record: MessageRecord;
}

/** The cursor before the first entry: "from the start of the log". */
export const LOG_START = '';

/** A cursor the log made: 1 to 2^53-1 in decimal, no sign or leading zero. */
const CURSOR_PATTERN = /^[1-9]\d{0,15}$/;

/** The sequence number of a cursor, or undefined when the text cannot be one of ours. */
export function cursorSequence(cursor: string): number | undefined {
  if (cursor === LOG_START) return 0;
  if (!CURSOR_PATTERN.test(cursor)) return undefined;
  const sequence = Number(cursor);
  return Number.isSafeInteger(sequence) ? sequence : undefined;
}

export function cursorOf(sequence: number): string {
  return sequence === 0 ? LOG_START : String(sequence);
}

/** A log entry as a store keeps it: its sequence number and the id of its record. */
export interface StoredEntry {
  sequence: number;
  id: string;
}

export interface MessageLog {
  /** The sequence number of the newest entry ever written (0 = none yet); never goes down. */
  head(): Promise<number>;
  /** Up to `limit` entries after `sequence`, oldest first, whether or not their records still exist. */
  entriesAfter(sequence: number, limit: number): Promise<StoredEntry[]>;
  /** The records of these ids (null where gone), in the same order. */
  records(ids: readonly string[]): Promise<Array<MessageRecord | null>>;
  /** Entries after `sequence` (including those whose records are gone but not yet purged). */
  countAfter(sequence: number): Promise<number>;
  /**
   * Deletes a record and its entry; its id stays known to duplicate detection while the session
   * that sent it lives (SPEC §9). False when there was no such record.
   */
  deleteMessage(id: string): Promise<boolean>;
  /** Removes entries at the start of the log whose records are gone; returns how many. */
  purge(): Promise<number>;
}

/** Server-side bookmarks of named consumers (SPEC §9 `consumers/<name>`). */
export interface Bookmarks {
  /** The bookmark's sequence number; null for a consumer never set. */
  get(name: string): Promise<number | null>;
  list(): Promise<Array<{ name: string; sequence: number }>>;
  /**
   * Moves the bookmark to `sequence`, forward only, atomically: `moved` (or `same` when it is
   * there already), `backwards` when it is past `sequence`.
   */
  advance(name: string, sequence: number): Promise<'moved' | 'same' | 'backwards'>;
}

/**
 * The webhook dispatcher's durable state: how far delivery has got, and a lease so that one
 * process of one instance delivers at a time (SPEC §9, §13).
 */
export interface WebhookState {
  /** Takes the lease when it is free or expired, or renews it when `owner` holds it. */
  claim(owner: string, leaseMs: number): Promise<boolean>;
  release(owner: string): Promise<void>;
  /** Every entry up to this sequence number has been delivered or given up. */
  delivered(): Promise<number>;
  /** Moves the delivered mark forward; refused (false) unless `owner` holds the lease. */
  advance(owner: string, sequence: number): Promise<boolean>;
}

/** The consumer side of a store. */
export interface ConsumerStores {
  log: MessageLog;
  bookmarks: Bookmarks;
  webhook: WebhookState;
}
