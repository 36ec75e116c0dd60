/** The WordPress usermeta table in the embedded SQLite file (SPEC §3, §8). */
import type { UsermetaTable } from '../../directory/usermeta.js';
import { callerCallback, orUnavailable } from '../unavailable.js';
import type { SqliteDatabase } from './database.js';
import { WriteBatcher } from './write-batch.js';

const BACKEND = 'sqlite';

export class SqliteUsermetaTable implements UsermetaTable {
  readonly name = BACKEND;
  private readonly findUserIdsQuery;
  private readonly readQuery;
  private readonly lockedReadQuery;
  private readonly updateQuery;
  private readonly insertQuery;
  private readonly maxUserIdQuery;

  /** `writes` is shared with the store when both live in one file, so their writes commit together. */
  constructor(
    private readonly db: SqliteDatabase,
    tablePrefix: string,
    private readonly writes: WriteBatcher = new WriteBatcher(db),
  ) {
    const table = `${tablePrefix}usermeta`;
    const readSql = `SELECT umeta_id, meta_value FROM ${table} WHERE user_id = ? AND meta_key = ? ORDER BY umeta_id LIMIT 1`;
    this.findUserIdsQuery = db
      .prepare<[string, string], { user_id: bigint }>(`SELECT user_id FROM ${table} WHERE meta_key = ? AND meta_value = ?`)
      .safeIntegers(true);
    this.readQuery = db.prepare<[string, string], { umeta_id: bigint; meta_value: string | null }>(readSql).safeIntegers(true);
    // The read of a read-modify-write runs inside the writer's transaction, so on its connection.
    this.lockedReadQuery = writes.db
      .prepare<[string, string], { umeta_id: bigint; meta_value: string | null }>(readSql)
      .safeIntegers(true);
    this.updateQuery = writes.db.prepare<[string, bigint]>(`UPDATE ${table} SET meta_value = ? WHERE umeta_id = ?`);
    this.insertQuery = writes.db.prepare<[string, string, string]>(
      `INSERT INTO ${table} (user_id, meta_key, meta_value) VALUES (?, ?, ?)`,
    );
    this.maxUserIdQuery = db
      .prepare<[], { max_id: bigint | null }>(`SELECT MAX(user_id) AS max_id FROM ${table}`)
      .safeIntegers(true);
  }

  findUserIds(metaKey: string, metaValue: string): Promise<string[]> {
    return orUnavailable(BACKEND, () => this.findUserIdsQuery.all(metaKey, metaValue).map((row) => row.user_id.toString()));
  }

  read(userId: string, metaKey: string): Promise<string | null> {
    return orUnavailable(BACKEND, () => this.readQuery.get(userId, metaKey)?.meta_value ?? null);
  }

  update(userId: string, metaKey: string, change: (current: string | null) => string | undefined): Promise<void> {
    return orUnavailable(BACKEND, () =>
      // The batch's IMMEDIATE transaction holds the write lock from before this read to after the
      // write: the SQLite form of SELECT … FOR UPDATE.
      this.writes.run(() => {
        const row = this.lockedReadQuery.get(userId, metaKey);
        // A refusal from `change` (a device that exists already) is the caller's, not an outage.
        const next = callerCallback(change)(row?.meta_value ?? null);
        if (next === undefined) return;
        if (row === undefined) this.insertQuery.run(userId, metaKey, next);
        else this.updateQuery.run(next, row.umeta_id);
      }),
    );
  }

  insert(userId: string, metaKey: string, metaValue: string): Promise<void> {
    return orUnavailable(BACKEND, () =>
      this.writes.run(() => {
        this.insertQuery.run(userId, metaKey, metaValue);
      }),
    );
  }

  allocateUserId(): Promise<string> {
    return orUnavailable(BACKEND, () => ((this.maxUserIdQuery.get()?.max_id ?? 0n) + 1n).toString());
  }

  ping(): Promise<void> {
    return orUnavailable(BACKEND, () => {
      this.db.prepare('SELECT 1').get();
    });
  }

  async close(): Promise<void> {
    // The database handle is shared with the store; whoever opened it closes it.
  }
}
