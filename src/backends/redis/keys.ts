/**
 * SPEC §7: the Redis key layout, written once. Consumers that read Redis depend on these
 * names byte for byte (docs/PRODUCTION.md repeats them).
 *
 *   REDIS_MAIN_DB: <REDIS_KEY_PREFIX><message id, 64 lowercase hex>  → message record JSON
 *   REDIS_AUTH_DB: <REDIS_KEY_PREFIX><client key>                    → session record JSON
 *   REDIS_MAIN_DB: <REDIS_KEY_PREFIX>failures:<subject>               → failure count (SPEC §10), expires with its window
 *   REDIS_MAIN_DB: <REDIS_KEY_PREFIX>recheck:<client key>             → "1" while the session needs no directory recheck (SPEC §10)
 *   REDIS_AUTH_DB: <REDIS_KEY_PREFIX><client key>#guard              → hash: that session's CBC content
 *                  claims and invalid-envelope count (SPEC §10, §11; session-guard.ts)
 *   REDIS_AUTH_DB: <REDIS_KEY_PREFIX>#secret:<name>                  → an installation secret (the log tag key)
 *   REDIS_AUTH_DB: <REDIS_KEY_PREFIX>#keypool:<bits>                 → list: pre-generated session key pairs of
 *                  that RSA size, JSON each, wrapped as session records are (issue 15; key-pool.ts)
 *
 * The failure and recheck keys live in REDIS_MAIN_DB, where every message key is exactly 64 hex
 * digits, so they can never be mistaken for a message. A <subject> is `key:<64 hex SHA-256 of a
 * client key>` or `address:<IP address>`. In REDIS_AUTH_DB, `#` is outside the device id alphabet
 * of SPEC §2, so neither of the `#` keys can ever be a client key, and a reader of sessions can
 * tell them apart.
 *
 * Every operation of the §4/§7 store touches exactly one of these keys.
 *
 * SPEC §9, also in REDIS_MAIN_DB (none of them is 64 hex, so §7's readers never mistake one for
 * a message; docs/CONSUMERS.md lists them for direct readers):
 *
 *   <prefix>{sms-log}:entries             sorted set: member = message id, score = its sequence number
 *   <prefix>{sms-log}:seq                 the last sequence number given (INCR)
 *   <prefix>{sms-log}:consumers           hash: consumer name → bookmark (a sequence number)
 *   <prefix>{sms-log}:webhook-lease       the webhook dispatcher's lease: the owner's id, with a PX expiry
 *   <prefix>{sms-log}:webhook-delivered   every entry up to this sequence number is delivered or given up
 *   <prefix>deleted:<client key>          set of ids a consumer deleted while that session lived (SPEC §9)
 *
 * The {sms-log} hash tag keeps the log's keys in one cluster slot. The one step that spans slots
 * is the store of a message with its entry (scripts/storeMessage-4.lua), because §7 fixes the
 * record's key: docs/CONSUMERS.md "Redis Cluster" says how issue 13 splits and repairs it.
 */

/** The key names of one deployment: its prefix applied the same way everywhere. */
export class RedisKeys {
  /** SCAN pattern for message keys: the prefix taken literally, then exactly 64 hex digits. */
  readonly messagePattern: string;

  constructor(readonly prefix: string) {
    this.messagePattern = `${escapeGlob(prefix)}${'[0-9a-f]'.repeat(64)}`;
  }

  /** In REDIS_MAIN_DB. */
  message(id: string): string {
    return `${this.prefix}${id}`;
  }

  /** In REDIS_AUTH_DB. */
  session(clientKey: string): string {
    return `${this.prefix}${clientKey}`;
  }

  /** In REDIS_MAIN_DB: a failure budget's counter. */
  failures(subject: string): string {
    return `${this.prefix}failures:${subject}`;
  }

  /** In REDIS_MAIN_DB: present while the session's directory recheck is not due. */
  recheck(clientKey: string): string {
    return `${this.prefix}recheck:${clientKey}`;
  }

  /** In REDIS_AUTH_DB: the per-session hardening state of this client key. */
  sessionGuard(clientKey: string): string {
    return `${this.prefix}${clientKey}#guard`;
  }

  /** In REDIS_AUTH_DB: a secret every process of the installation shares. */
  installationSecret(name: string): string {
    return `${this.prefix}#secret:${name}`;
  }

  /** In REDIS_AUTH_DB: the shared pool of pre-generated key pairs of one RSA size (one list: one slot). */
  keyPool(bits: number): string {
    return `${this.prefix}#keypool:${bits}`;
  }

  /** SCAN pattern for every key of REDIS_AUTH_DB under the prefix (sessions among them; see isSessionKey). */
  readonly authPattern = (): string => `${escapeGlob(this.prefix)}*`;

  /** Whether a REDIS_AUTH_DB key is a session's (not a guard hash or a secret). */
  isSessionKey(key: string): boolean {
    return key.startsWith(this.prefix) && !key.slice(this.prefix.length).includes('#');
  }

  /** The client key of a session key. */
  clientKeyOf(sessionKey: string): string {
    return sessionKey.slice(this.prefix.length);
  }

  /** SPEC §9, in REDIS_MAIN_DB: the log's keys share the {sms-log} hash tag (one cluster slot). */
  get logEntries(): string {
    return `${this.prefix}{sms-log}:entries`;
  }

  get logSequence(): string {
    return `${this.prefix}{sms-log}:seq`;
  }

  get consumers(): string {
    return `${this.prefix}{sms-log}:consumers`;
  }

  get webhookLease(): string {
    return `${this.prefix}{sms-log}:webhook-lease`;
  }

  get webhookDelivered(): string {
    return `${this.prefix}{sms-log}:webhook-delivered`;
  }

  /** In REDIS_MAIN_DB: ids a consumer deleted, remembered while this session may resend them. */
  deletedInSession(clientKey: string): string {
    return `${this.prefix}deleted:${clientKey}`;
  }
}

/** A prefix such as `app[1]:` must match itself only, not act as a glob class. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
