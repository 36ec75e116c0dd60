/**
 * SPEC §7: the Redis key layout, written once. Consumers that read Redis depend on these
 * names byte for byte (docs/PRODUCTION.md repeats them).
 *
 *   REDIS_MAIN_DB: <REDIS_KEY_PREFIX><message id, 64 lowercase hex>  → message record JSON
 *   REDIS_AUTH_DB: <REDIS_KEY_PREFIX><client key>                    → session record JSON
 *   REDIS_MAIN_DB: <REDIS_KEY_PREFIX>failures:<subject>               → failure count (SPEC §10), expires with its window
 *   REDIS_MAIN_DB: <REDIS_KEY_PREFIX>recheck:<client key>             → "1" while the session needs no directory recheck (SPEC §10)
 *   REDIS_MAIN_DB: <REDIS_KEY_PREFIX>ratelimit:<client address>       → /api requests in the address's window (RATE_LIMIT_MAX, SPEC §13), expires with it
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
 * The {sms-log} hash tag keeps the log's keys in one cluster slot.
 *
 * REDIS CLUSTER (REDIS_CLUSTER_NODES, SPEC §13): the layout above needs two databases, and a
 * cluster has database 0 only. So on a cluster (and only there: the layout above stays byte for
 * byte for §7's readers) every kind has its own prefix after REDIS_KEY_PREFIX, and the keys of
 * one session share the hash tag {<client key>}, so every per-session step is one slot:
 *
 *   <prefix>msg:{<id>}                   message record JSON (§7's value, unchanged)
 *   <prefix>unlogged:{<id>}              the record's "log entry not written yet" marker (its
 *                                        slot: {<id>}); value = `<ms since 1970>:<log head seen>`
 *                                        (log-repair.ts unloggedMarker)
 *   <prefix>session:{<client key>}       session record JSON
 *   <prefix>guard:{<client key>}         the session's guard hash
 *   <prefix>recheck:{<client key>}       the session's recheck mark
 *   <prefix>deleted:{<client key>}       the session's consumer-deleted ids
 *   <prefix>failures:<subject>           a failure budget's counter (no tag: one key per step)
 *   <prefix>ratelimit:<client address>  the /api rate limit's counter of one address (no tag: one key per step)
 *   <prefix>secret:<name>                an installation secret
 *   <prefix>keypool:<bits>              list: the shared pool of pre-generated key pairs (one slot)
 *   <prefix>{sms-log}:…                  the §9 log's keys, as above
 *
 * Messages spread over every master by id, sessions by client key. Only the log's few keys
 * share one slot, on purpose: one ordered log needs one sequence (INCR) and one sorted set.
 * Per stored message that slot holds one sorted-set member (64-byte id + score, ~100 bytes
 * with overhead) and gets two commands (INCR+ZADD in one script); the record itself lives on
 * its own master. Storing a message spans three slots (deleted ids, record, log), so on a
 * cluster it is four one-slot steps with a marker (docs/CONSUMERS.md "Redis Cluster",
 * message-log.ts), and the marker's repair puts every stored record into the log.
 */

/** single = SPEC §7's two databases (one Redis, Sentinel); cluster = database 0 with kind prefixes. */
export type KeyLayout = 'single' | 'cluster';

/** The key names of one deployment: its prefix applied the same way everywhere. */
export class RedisKeys {
  /** SCAN pattern for message keys: the prefix taken literally, then exactly 64 hex digits. */
  readonly messagePattern: string;
  /** SCAN pattern for the log-entry markers (cluster layout only; matches nothing in the single layout's databases). */
  readonly unloggedPattern: string;

  constructor(
    readonly prefix: string,
    readonly layout: KeyLayout = 'single',
  ) {
    const hex = '[0-9a-f]'.repeat(64);
    const glob = escapeGlob(prefix);
    this.messagePattern = layout === 'single' ? `${glob}${hex}` : `${glob}msg:{${hex}}`;
    this.unloggedPattern = `${glob}unlogged:{${hex}}`;
  }

  get cluster(): boolean {
    return this.layout === 'cluster';
  }

  /** In REDIS_MAIN_DB. */
  message(id: string): string {
    return this.cluster ? `${this.prefix}msg:{${id}}` : `${this.prefix}${id}`;
  }

  /** The id of a key matching messagePattern. */
  idOfMessageKey(key: string): string {
    return this.cluster ? key.slice(this.prefix.length + 'msg:{'.length, -1) : key.slice(this.prefix.length);
  }

  /** Cluster layout: in the record's slot, present while the record may lack its log entry. */
  unlogged(id: string): string {
    return `${this.prefix}unlogged:{${id}}`;
  }

  /** The id of a key matching unloggedPattern. */
  idOfUnloggedKey(key: string): string {
    return key.slice(this.prefix.length + 'unlogged:{'.length, -1);
  }

  /** In REDIS_AUTH_DB. */
  session(clientKey: string): string {
    return this.cluster ? `${this.prefix}session:{${clientKey}}` : `${this.prefix}${clientKey}`;
  }

  /** In REDIS_MAIN_DB: a failure budget's counter. */
  failures(subject: string): string {
    return `${this.prefix}failures:${subject}`;
  }

  /** In REDIS_MAIN_DB: the shared request rate limit's counter of one client address (rate-limits.ts); not 64 hex, so never a message. */
  rateLimit(address: string): string {
    return `${this.prefix}ratelimit:${address}`;
  }

  /** In REDIS_MAIN_DB: present while the session's directory recheck is not due. */
  recheck(clientKey: string): string {
    return this.cluster ? `${this.prefix}recheck:{${clientKey}}` : `${this.prefix}recheck:${clientKey}`;
  }

  /** In REDIS_AUTH_DB: the per-session hardening state of this client key. */
  sessionGuard(clientKey: string): string {
    return this.cluster ? `${this.prefix}guard:{${clientKey}}` : `${this.prefix}${clientKey}#guard`;
  }

  /** In REDIS_AUTH_DB: a secret every process of the installation shares. */
  installationSecret(name: string): string {
    return this.cluster ? `${this.prefix}secret:${name}` : `${this.prefix}#secret:${name}`;
  }

  /** In REDIS_AUTH_DB: the shared pool of pre-generated key pairs of one RSA size (one list: one slot). */
  keyPool(bits: number): string {
    return this.cluster ? `${this.prefix}keypool:${bits}` : `${this.prefix}#keypool:${bits}`;
  }

  /** SCAN pattern for every key of REDIS_AUTH_DB under the prefix (sessions among them; see isSessionKey); on a cluster, session keys only. */
  readonly authPattern = (): string => (this.cluster ? `${escapeGlob(this.prefix)}session:{*` : `${escapeGlob(this.prefix)}*`);

  /** Whether a REDIS_AUTH_DB key is a session's (not a guard hash or a secret). */
  isSessionKey(key: string): boolean {
    if (this.cluster) return key.startsWith(`${this.prefix}session:{`) && key.endsWith('}');
    return key.startsWith(this.prefix) && !key.slice(this.prefix.length).includes('#');
  }

  /** The client key of a session key. */
  clientKeyOf(sessionKey: string): string {
    return this.cluster ? sessionKey.slice(this.prefix.length + 'session:{'.length, -1) : sessionKey.slice(this.prefix.length);
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
    return this.cluster ? `${this.prefix}deleted:{${clientKey}}` : `${this.prefix}deleted:${clientKey}`;
  }
}

/** A prefix such as `app[1]:` must match itself only, not act as a glob class. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
