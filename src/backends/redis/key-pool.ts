/**
 * src/store/key-pool-store.ts in Redis: one list per RSA size in REDIS_AUTH_DB, beside the
 * sessions the pairs become (keys.ts: `#keypool:<bits>`). Entries are pushed at the tail (a
 * script that checks the length first) and taken from the head with LPOP: one atomic command, so
 * an entry reaches exactly one caller across every process and instance.
 *
 * With an asynchronous replica, a pop acknowledged by a primary that dies before replicating it
 * can reappear after a failover, and its pair be handed out twice (docs/SECURITY.md "The durable
 * key pool"). With REDIS_WAIT_REPLICAS (SPEC §13) it cannot:
 * - on one Redis or Sentinel the pop goes out on the sessions connection, and the WAIT of the
 *   session write that follows it covers every earlier write of that connection: nothing to add;
 * - on a cluster the list lives on one master and the sessions on all of them, so `take` waits
 *   for the pop on the list's master itself (coalesced with every other WAIT there), before the
 *   pair is used. Not acknowledged = BackendUnavailableError (the auth's 503, no session
 *   written): the popped pair is dropped, never stored in a record nor answered. If the pop is
 *   replicated later the pair is simply gone; if a failover loses it, the entry is back in the
 *   list and handed out then for the first time. Either way no device gets it twice.
 */
import { SESSION_KEY_BITS_ALLOWED, type SessionKeyBits } from '../../config/config.js';
import type { KeyPoolStore, PooledKey } from '../../store/key-pool-store.js';
import { orUnavailable } from '../unavailable.js';
import type { RedisClient } from './connection.js';
import type { RedisKeys } from './keys.js';
import { NO_REPLICATION_WAIT, type ReplicationWait } from './replication-wait.js';
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
    /** Cluster with REDIS_WAIT_REPLICAS: a pop is answered once replicas hold it (the header says why only there). */
    private readonly replication: ReplicationWait = NO_REPLICATION_WAIT,
  ) {
    this.addScript = script(scriptsOn(client), 'addPooledKey');
  }

  add(bits: SessionKeyBits, key: PooledKey, limit: number): Promise<boolean> {
    const entry: Entry = { public_key: key.publicKeyPem, private_key: key.storedPrivateKey, wrap: key.wrapTag };
    return orUnavailable(BACKEND, async () => Number(await this.addScript([this.keys.keyPool(bits)], [limit, JSON.stringify(entry)])) === 1);
  }

  take(bits: SessionKeyBits): Promise<PooledKey | null> {
    const list = this.keys.keyPool(bits);
    // The WAIT (if any) follows the last pop, which covers the ones before it; an empty pool wrote nothing.
    return orUnavailable(BACKEND, () => this.replication.replicatedIf(list, () => this.pop(list), (taken) => taken !== null));
  }

  private async pop(list: string): Promise<PooledKey | null> {
    // An entry that does not decode (written by hand, or a future format) is dropped, not handed out.
    for (;;) {
      const raw = await this.client.lpop(list);
      if (raw === null) return null;
      const key = decode(raw);
      if (key !== null) return key;
    }
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
