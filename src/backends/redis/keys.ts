/**
 * SPEC §7: the Redis key layout, written once. Consumers that read Redis depend on these
 * names byte for byte (docs/PRODUCTION.md repeats them).
 *
 *   REDIS_MAIN_DB: <REDIS_KEY_PREFIX><message id, 64 lowercase hex>  → message record JSON
 *   REDIS_AUTH_DB: <REDIS_KEY_PREFIX><client key>                    → session record JSON
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
}

/** A prefix such as `app[1]:` must match itself only, not act as a glob class. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
