/**
 * SPEC §3: WordPress's `<prefix>usermeta` table in MySQL/MariaDB, through a mysql2 pool and
 * prepared statements only. The table is WordPress's: this code never creates or alters it,
 * and needs SELECT, INSERT and UPDATE on it, nothing else.
 */
import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { Logger } from 'pino';
import { DirectoryError } from '../../directory/directory.js';
import type { UsermetaTable } from '../../directory/usermeta.js';
import { BackendUnavailableError, callerCallback, orUnavailable } from '../unavailable.js';

const BACKEND = 'mysql';
/** ER_LOCK_DEADLOCK: InnoDB chose this transaction as the victim; running it again is the documented remedy. */
const ER_LOCK_DEADLOCK = 1213;
const UPDATE_ATTEMPTS = 3;

/**
 * WordPress's collations ignore case and trailing spaces (`'ABC ' = 'abc'`); the embedded
 * store compares bytes, and a user id is "compared as stored" (SPEC §2). Comparing the binary
 * forms gives MySQL the same answers; the plain `meta_key = ?` beside it keeps the index usable.
 */
function exactly(column: string): string {
  return `CAST(${column} AS BINARY) = CAST(? AS BINARY)`;
}

interface MetaRow extends RowDataPacket {
  umeta_id: string;
  meta_value: string | null;
}

interface UserIdRow extends RowDataPacket {
  user_id: string;
}

export class MysqlUsermetaTable implements UsermetaTable {
  readonly name = BACKEND;
  private readonly findUserIdsSql: string;
  private readonly readSql: string;
  private readonly updateSql: string;
  private readonly insertSql: string;
  private readonly pingSql: string;
  /** Whether the last operation failed, so an outage is logged once and its end once. */
  private down = false;

  constructor(
    private readonly pool: Pool,
    tablePrefix: string,
    private readonly log: Logger,
  ) {
    // The prefix is checked against WordPress's own alphabet by the configuration.
    const table = `\`${tablePrefix}usermeta\``;
    this.findUserIdsSql = `SELECT user_id FROM ${table} WHERE meta_key = ? AND ${exactly('meta_key')} AND ${exactly('meta_value')} ORDER BY umeta_id`;
    this.readSql = `SELECT umeta_id, meta_value FROM ${table} WHERE user_id = ? AND meta_key = ? AND ${exactly('meta_key')} ORDER BY umeta_id LIMIT 1`;
    this.updateSql = `UPDATE ${table} SET meta_value = ? WHERE umeta_id = ?`;
    this.insertSql = `INSERT INTO ${table} (user_id, meta_key, meta_value) VALUES (?, ?, ?)`;
    // Touches the table itself, so a wrong DB_TABLE_PREFIX or a missing grant shows as not ready.
    this.pingSql = `SELECT 1 FROM ${table} LIMIT 0`;
  }

  findUserIds(metaKey: string, metaValue: string): Promise<string[]> {
    return this.run(async () => {
      const [rows] = await this.pool.execute<UserIdRow[]>(this.findUserIdsSql, [metaKey, metaKey, metaValue]);
      return rows.map((row) => String(row.user_id));
    });
  }

  read(userId: string, metaKey: string): Promise<string | null> {
    return this.run(async () => {
      const [rows] = await this.pool.execute<MetaRow[]>(this.readSql, [userId, metaKey, metaKey]);
      return rows[0]?.meta_value ?? null;
    });
  }

  update(userId: string, metaKey: string, change: (current: string | null) => string | undefined): Promise<void> {
    const ownChange = callerCallback(change);
    return this.run(async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.updateOnce(userId, metaKey, ownChange);
        } catch (error) {
          if ((error as { errno?: number }).errno !== ER_LOCK_DEADLOCK || attempt >= UPDATE_ATTEMPTS) throw error;
        }
      }
    });
  }

  /** SPEC §3: the first row (lowest umeta_id) is read with `FOR UPDATE`, so concurrent writers queue on it. */
  private async updateOnce(userId: string, metaKey: string, change: (current: string | null) => string | undefined): Promise<void> {
    const connection = await this.pool.getConnection();
    let reusable = true;
    try {
      await connection.beginTransaction();
      const [rows] = await connection.execute<MetaRow[]>(`${this.readSql} FOR UPDATE`, [userId, metaKey, metaKey]);
      const row = rows[0];
      const next = change(row?.meta_value ?? null);
      if (next !== undefined) {
        if (row === undefined) await connection.execute<ResultSetHeader>(this.insertSql, [userId, metaKey, next]);
        else await connection.execute<ResultSetHeader>(this.updateSql, [next, row.umeta_id]);
      }
      await connection.commit();
    } catch (error) {
      reusable = await rollback(connection);
      throw error;
    } finally {
      if (reusable) connection.release();
      else connection.destroy();
    }
  }

  insert(userId: string, metaKey: string, metaValue: string): Promise<void> {
    return this.run(async () => {
      await this.pool.execute<ResultSetHeader>(this.insertSql, [userId, metaKey, metaValue]);
    });
  }

  /** WordPress makes its users; only their UUID meta is ours to add. */
  async allocateUserId(): Promise<string> {
    throw new DirectoryError(
      'users of a WordPress database are made by WordPress: give the existing WordPress user id (admin: --wp-user-id N)',
    );
  }

  ping(): Promise<void> {
    return this.run(async () => {
      await this.pool.execute(this.pingSql);
    });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /** Every pool error is an unavailable MySQL (SPEC §1: 503), logged once per outage. */
  private async run<T>(work: () => Promise<T>): Promise<T> {
    try {
      const result = await orUnavailable(BACKEND, work);
      if (this.down) {
        this.down = false;
        this.log.info({ backend: BACKEND }, 'mysql reachable again');
      }
      return result;
    } catch (error) {
      if (error instanceof BackendUnavailableError && !this.down) {
        this.down = true;
        this.log.warn({ backend: BACKEND, reason: error.message }, 'mysql unreachable: requests that need it get 503 until it returns');
      }
      throw error;
    }
  }
}

/** Rolls back; false when the connection is too broken to go back to the pool. */
async function rollback(connection: PoolConnection): Promise<boolean> {
  try {
    await connection.rollback();
    return true;
  } catch {
    return false;
  }
}
