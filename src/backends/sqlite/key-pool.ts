/**
 * src/store/key-pool-store.ts in the embedded file: one row per pooled pair. Every write goes
 * through the WriteBatcher's IMMEDIATE transaction, so a take is one atomic DELETE … RETURNING
 * across every process sharing the file, and an add checks the count in the same transaction.
 * `secure_delete` (file-safety.ts) zeroes a taken row's bytes in the page; the pair lives on as
 * the session record it became, and that session's delete asks for the WAL scrub as usual.
 */
import type { SessionKeyBits } from '../../config/config.js';
import type { KeyPoolStore, PooledKey } from '../../store/key-pool-store.js';
import { orUnavailable } from '../unavailable.js';
import type { SqliteDatabase } from './database.js';
import type { WriteBatcher } from './write-batch.js';

const BACKEND = 'sqlite';

/** Created with the rest of the schema by openEmbeddedDatabase. */
export const KEY_POOL_SCHEMA = `
  CREATE TABLE IF NOT EXISTS key_pool (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    bits        INTEGER NOT NULL,
    wrap        TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    private_key TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS key_pool_bits ON key_pool (bits, id);
`;

interface Row {
  public_key: string;
  private_key: string;
  wrap: string;
}

export class SqliteKeyPoolStore implements KeyPoolStore {
  private readonly countOn;
  private readonly insert;
  private readonly takeOldest;
  private readonly deleteOtherSizes;
  private readonly deleteOtherWraps;

  /**
   * `db` answers counts (the read connection); writes run on the batcher's. `discarded` is told
   * when rows that will never become sessions were deleted, so their bytes leave the WAL too.
   */
  constructor(
    db: SqliteDatabase,
    private readonly writes: WriteBatcher,
    private readonly discarded: () => void = () => undefined,
  ) {
    this.countOn = db.prepare<[number], { n: number }>(`SELECT count(*) AS n FROM key_pool WHERE bits = ?`);
    const w = writes.db;
    this.insert = w.prepare<{ bits: number; wrap: string; pub: string; key: string; limit: number }>(
      `INSERT INTO key_pool (bits, wrap, public_key, private_key)
       SELECT @bits, @wrap, @pub, @key WHERE (SELECT count(*) FROM key_pool WHERE bits = @bits) < @limit`,
    );
    this.takeOldest = w.prepare<[number, number], Row>(
      `DELETE FROM key_pool WHERE id = (SELECT id FROM key_pool WHERE bits = ? ORDER BY id LIMIT 1) AND bits = ?
       RETURNING public_key, private_key, wrap`,
    );
    this.deleteOtherSizes = w.prepare<[number]>(`DELETE FROM key_pool WHERE bits <> ?`);
    this.deleteOtherWraps = w.prepare<[string]>(`DELETE FROM key_pool WHERE wrap <> ?`);
  }

  add(bits: SessionKeyBits, key: PooledKey, limit: number): Promise<boolean> {
    return orUnavailable(BACKEND, () =>
      this.writes.run(
        () => this.insert.run({ bits, wrap: key.wrapTag, pub: key.publicKeyPem, key: key.storedPrivateKey, limit }).changes === 1,
      ),
    );
  }

  take(bits: SessionKeyBits): Promise<PooledKey | null> {
    return orUnavailable(BACKEND, () =>
      this.writes.run(() => {
        const row = this.takeOldest.get(bits, bits);
        return row === undefined ? null : { publicKeyPem: row.public_key, storedPrivateKey: row.private_key, wrapTag: row.wrap };
      }),
    );
  }

  count(bits: SessionKeyBits): Promise<number> {
    return orUnavailable(BACKEND, () => this.countOn.get(bits)?.n ?? 0);
  }

  discardOtherSizes(bits: SessionKeyBits): Promise<number> {
    return this.discard(() => this.deleteOtherSizes.run(bits).changes);
  }

  discardOtherWraps(wrapTag: string): Promise<number> {
    return this.discard(() => this.deleteOtherWraps.run(wrapTag).changes);
  }

  private async discard(remove: () => number): Promise<number> {
    const removed = await orUnavailable(BACKEND, () => this.writes.run(remove));
    if (removed > 0) this.discarded();
    return removed;
  }
}
