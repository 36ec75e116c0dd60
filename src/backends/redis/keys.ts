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
 *
 * The failure and recheck keys live in REDIS_MAIN_DB, where every message key is exactly 64 hex
 * digits, so they can never be mistaken for a message. A <subject> is `key:<64 hex SHA-256 of a
 * client key>` or `address:<IP address>`. In REDIS_AUTH_DB, `#` is outside the device id alphabet
 * of SPEC §2, so neither of the `#` keys can ever be a client key, and a reader of sessions can
 * tell them apart.
 *
 * Every operation of the store touches exactly one of these keys, so a move to Redis Cluster
 * needs no hash tags: no command spans two keys.
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
}

/** A prefix such as `app[1]:` must match itself only, not act as a glob class. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
