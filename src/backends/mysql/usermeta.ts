/**
 * SPEC §3: WordPress's `<prefix>usermeta` table in MySQL/MariaDB, through a mysql2 pool and
 * prepared statements only. The table is WordPress's: this code never creates or alters it,
 * and needs SELECT and UPDATE on it (INSERT too for the admin command), nothing else.
 */
import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { Logger } from 'pino';
import { DirectoryError } from '../../directory/directory.js';
import type { UsermetaTable } from '../../directory/usermeta.js';
import { BackendUnavailableError, callerCallback, orUnavailable } from '../unavailable.js';

const BACKEND = 'mysql';
/**
 * A MySQL that holds connections open but does not answer (paused, overloaded, a network cut)
 * fails the request after this long, rather than holding it until TCP gives up. mysql2's own
 * statement timeout leaves the connection mid-protocol, so here the connection is destroyed.
 */
export const MYSQL_ANSWER_TIMEOUT_MS = 5000;
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
  /** DB_QUEUE_LIMIT refused a request since the last one that ran: logged once per such burst. */
  private queueFull = false;

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
    return this.run(async (connection) => {
      const [rows] = await connection.execute<UserIdRow[]>(this.findUserIdsSql, [metaKey, metaKey, metaValue]);
      return rows.map((row) => String(row.user_id));
    });
  }

  read(userId: string, metaKey: string): Promise<string | null> {
    return this.run(async (connection) => {
      const [rows] = await connection.execute<MetaRow[]>(this.readSql, [userId, metaKey, metaKey]);
      return rows[0]?.meta_value ?? null;
    });
  }

  async update(userId: string, metaKey: string, change: (current: string | null) => string | undefined): Promise<void> {
    const ownChange = callerCallback(change);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.run((connection) => this.updateOnce(connection, userId, metaKey, ownChange));
      } catch (error) {
        const deadlock = error instanceof BackendUnavailableError && (error.cause as { errno?: number } | undefined)?.errno === ER_LOCK_DEADLOCK;
        if (!deadlock || attempt >= UPDATE_ATTEMPTS) throw error;
      }
    }
  }

  /** SPEC §3: the first row (lowest umeta_id) is read with `FOR UPDATE`, so concurrent writers queue on it. */
  private async updateOnce(
    connection: PoolConnection,
    userId: string,
    metaKey: string,
    change: (current: string | null) => string | undefined,
  ): Promise<void> {
    await connection.beginTransaction();
    try {
      const [rows] = await connection.execute<MetaRow[]>(`${this.readSql} FOR UPDATE`, [userId, metaKey, metaKey]);
      const row = rows[0];
      const next = change(row?.meta_value ?? null);
      if (next !== undefined) {
        if (row === undefined) await connection.execute<ResultSetHeader>(this.insertSql, [userId, metaKey, next]);
        else await connection.execute<ResultSetHeader>(this.updateSql, [next, row.umeta_id]);
      }
      await connection.commit();
    } catch (error) {
      // A connection whose transaction may still be open must not go back to the pool.
      await connection.rollback().catch(() => connection.destroy());
      throw error;
    }
  }

  insert(userId: string, metaKey: string, metaValue: string): Promise<void> {
    return this.run(async (connection) => {
      await connection.execute<ResultSetHeader>(this.insertSql, [userId, metaKey, metaValue]);
    });
  }

  /** WordPress makes its users; only their UUID meta is ours to add. */
  async allocateUserId(): Promise<string> {
    throw new DirectoryError(
      'users of a WordPress database are made by WordPress: give the existing WordPress user id (admin: --wp-user-id N)',
    );
  }

  ping(): Promise<void> {
    return this.run(async (connection) => {
      await connection.execute(this.pingSql);
    });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /**
   * Runs `work` on a pooled connection within MYSQL_ANSWER_TIMEOUT_MS. Every failure but the
   * caller's own is an unavailable MySQL (SPEC §1: 503), logged once per outage.
   */
  private async run<T>(work: (connection: PoolConnection) => Promise<T>): Promise<T> {
    try {
      const result = await orUnavailable(BACKEND, () => withDeadline(this.pool, work));
      this.queueFull = false;
      if (this.down) {
        this.down = false;
        this.log.info({ backend: BACKEND }, 'mysql reachable again');
      }
      return result;
    } catch (error) {
      // The pool's own bound, not an outage: MySQL may be answering, just not as fast as we ask.
      if (error instanceof BackendUnavailableError && refusedByQueueLimit(error)) {
        if (!this.queueFull) {
          this.queueFull = true;
          this.log.warn({ backend: BACKEND }, 'mysql busy: requests beyond DB_QUEUE_LIMIT get 503');
        }
        throw error;
      }
      if (error instanceof BackendUnavailableError && !this.down) {
        this.down = true;
        this.log.warn({ backend: BACKEND, reason: error.message }, 'mysql unreachable: requests that need it get 503 until it returns');
      }
      throw error;
    }
  }
}

/** mysql2's pool refuses a getConnection past `queueLimit` with this error (no code of its own). */
function refusedByQueueLimit(error: BackendUnavailableError): boolean {
  return error.cause instanceof Error && error.cause.message === 'Queue limit reached.';
}

/** Takes a connection and runs `work` on it; past the deadline, gives up and destroys the connection. */
async function withDeadline<T>(pool: Pool, work: (connection: PoolConnection) => Promise<T>): Promise<T> {
  let connection: PoolConnection | undefined;
  let abandoned = false;
  const attempt = (async () => {
    const taken = await pool.getConnection();
    if (abandoned) {
      taken.destroy();
      throw new Error('abandoned');
    }
    connection = taken;
    try {
      return await work(taken);
    } finally {
      // A no-op for a connection destroyed meanwhile (the pool forgot it already).
      taken.release();
    }
  })();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abandoned = true;
      connection?.destroy();
      reject(new Error(`no answer within ${MYSQL_ANSWER_TIMEOUT_MS} ms`));
    }, MYSQL_ANSWER_TIMEOUT_MS);
  });
  try {
    return await Promise.race([attempt, deadline]);
  } finally {
    clearTimeout(timer);
    // The loser of the race settles later; nobody waits for it.
    attempt.catch(() => undefined);
  }
}
