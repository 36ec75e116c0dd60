/**
 * What the protocol needs from a store of sessions and messages (SPEC §4, §6, §7).
 * The embedded SQLite store and Redis implement these; the protocol code knows nothing else.
 */

/** SPEC §4: the session record, stored as JSON under the full client key. */
export interface SessionRecord {
  user_id: string;
  device_id: string;
  device_name: string;
  /** PKCS#8 PEM. Never logged. */
  private_key: string;
  /** ISO 8601 UTC. */
  created_at: string;
}

/** SPEC §7: the message record, stored as JSON under its id. */
export interface MessageRecord {
  id: string;
  user_id: string;
  device_id: string;
  device_name: string;
  /** As received: a safe integer or a string. */
  minute: number | string;
  /** ISO 8601 UTC. */
  received_at: string;
  /** The plaintext. Never logged. */
  payload: string;
}

/** Seconds until a record expires; 0 = never. */
export type TtlSeconds = number;

/** Sessions, keyed by the full client key. Every method may throw BackendUnavailableError. */
export interface SessionStore {
  /** Atomic set-if-absent (SPEC §4): true when this call created the session. */
  create(key: string, record: SessionRecord, ttl: TtlSeconds): Promise<boolean>;
  get(key: string): Promise<SessionRecord | null>;
  /** Sliding expiry: a successful submit renews the session. */
  renew(key: string, ttl: TtlSeconds): Promise<void>;
  /** True when a session was there to delete. */
  delete(key: string): Promise<boolean>;
}

/** Messages, keyed by their id. Every method may throw BackendUnavailableError. */
export interface MessageStore {
  /** Atomic set-if-absent (SPEC §6): true when stored, false for a duplicate. Resolves only once durable. */
  putIfAbsent(record: MessageRecord, ttl: TtlSeconds): Promise<boolean>;
  get(id: string): Promise<MessageRecord | null>;
  /** Up to `limit` stored messages, for the admin command and tests; no order is promised. */
  list(limit: number): Promise<MessageRecord[]>;
}

/** A backend as the server's lifecycle sees it. */
export interface BackendHandle {
  /** Short name for logs and /readyz: "sqlite", "redis", "mysql". */
  readonly name: string;
  /** Resolves when the backend answers; rejects with BackendUnavailableError otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Field order of the JSON records is fixed, so every backend writes the same bytes. */
export function encodeSession(record: SessionRecord): string {
  const { user_id, device_id, device_name, private_key, created_at } = record;
  return JSON.stringify({ user_id, device_id, device_name, private_key, created_at });
}

export function encodeMessage(record: MessageRecord): string {
  const { id, user_id, device_id, device_name, minute, received_at, payload } = record;
  return JSON.stringify({ id, user_id, device_id, device_name, minute, received_at, payload });
}

function isString(value: unknown): value is string {
  return typeof value === 'string';
}

/** Parses a stored session; a record that is not of this shape is treated as absent by callers. */
export function decodeSession(json: string): SessionRecord | null {
  try {
    const value: unknown = JSON.parse(json);
    if (typeof value !== 'object' || value === null) return null;
    const r = value as Record<string, unknown>;
    if (![r.user_id, r.device_id, r.device_name, r.private_key, r.created_at].every(isString)) return null;
    return value as SessionRecord;
  } catch {
    return null;
  }
}

export function decodeMessage(json: string): MessageRecord | null {
  try {
    const value: unknown = JSON.parse(json);
    if (typeof value !== 'object' || value === null) return null;
    return value as MessageRecord;
  } catch {
    return null;
  }
}
