/**
 * src/store/key-pool-store.ts in Redis: one list per RSA size in REDIS_AUTH_DB, beside the
 * sessions the pairs become (keys.ts: `#keypool:<bits>`). Entries are pushed at the tail (a
 * script that checks the length first) and taken from the head with LPOP: one atomic command, so
 * an entry reaches exactly one caller across every process and instance.
 *
 * With an asynchronous replica, a pop acknowledged by a primary that dies before replicating it
 * can reappear after a failover (docs/SECURITY.md says what that would mean and bound).
 */
import { SESSION_KEY_BITS_ALLOWED, type SessionKeyBits } from '../../config/config.js';
import type { KeyPoolStore, PooledKey } from '../../store/key-pool-store.js';
import { orUnavailable } from '../unavailable.js';
import type { RedisClient } from './connection.js';
import type { RedisKeys } from './keys.js';
import { script, scriptsOn } from './scripts.js';

const BACKEND = 'redis';

/** The stored JSON: field names as the session record's (SPEC §7 style), plus the wrap tag. */
interface Entry {
  public_key: string;
  private_key: string;
  wrap: string;
}

function decode(raw: string): PooledKey | null {
  try {
    const entry = JSON.parse(raw) as Partial<Entry>;
    if (typeof entry.public_key !== 'string' || typeof entry.private_key !== 'string' || typeof entry.wrap !== 'string') return null;
    return { publicKeyPem: entry.public_key, storedPrivateKey: entry.private_key, wrapTag: entry.wrap };
  } catch {
    return null;
  }
}

export class RedisKeyPoolStore implements KeyPoolStore {
  private readonly addScript;

  /** `client` is the REDIS_AUTH_DB connection. */
  constructor(
    private readonly client: RedisClient,
    private readonly keys: RedisKeys,
  ) {
    this.addScript = script(scriptsOn(client), 'addPooledKey');
  }

  add(bits: SessionKeyBits, key: PooledKey, limit: number): Promise<boolean> {
    const entry: Entry = { public_key: key.publicKeyPem, private_key: key.storedPrivateKey, wrap: key.wrapTag };
    return orUnavailable(BACKEND, async () => Number(await this.addScript([this.keys.keyPool(bits)], [limit, JSON.stringify(entry)])) === 1);
  }

  take(bits: SessionKeyBits): Promise<PooledKey | null> {
    return orUnavailable(BACKEND, async () => {
      // An entry that does not decode (written by hand, or a future format) is dropped, not handed out.
      for (;;) {
        const raw = await this.client.lpop(this.keys.keyPool(bits));
        if (raw === null) return null;
        const key = decode(raw);
        if (key !== null) return key;
      }
    });
  }

  count(bits: SessionKeyBits): Promise<number> {
    return orUnavailable(BACKEND, () => this.client.llen(this.keys.keyPool(bits)));
  }

  discardOtherSizes(bits: SessionKeyBits): Promise<number> {
    return orUnavailable(BACKEND, async () => {
      let removed = 0;
      // One DEL per list: on a cluster each may live in another slot.
      for (const other of SESSION_KEY_BITS_ALLOWED.filter((size) => size !== bits)) {
        const key = this.keys.keyPool(other);
        const length = await this.client.llen(key);
        if (length > 0 && (await this.client.del(key)) === 1) removed += length;
      }
      return removed;
    });
  }

  discardOtherWraps(wrapTag: string): Promise<number> {
    return orUnavailable(BACKEND, async () => {
      let removed = 0;
      for (const bits of SESSION_KEY_BITS_ALLOWED) {
        const key = this.keys.keyPool(bits);
        for (const raw of await this.client.lrange(key, 0, -1)) {
          if (decode(raw)?.wrapTag === wrapTag) continue;
          // LREM of the exact entry: one another process took meanwhile is simply not found.
          removed += await this.client.lrem(key, 1, raw);
        }
      }
      return removed;
    });
  }
}
