/**
 * Opens the WordPress directory on MySQL/MariaDB (SPEC §3, §8): a mysql2 pool that connects
 * on demand, so the server starts while MySQL is down and serves again once it is back.
 */
import { createPool } from 'mysql2/promise';
import type { Logger } from 'pino';
import type { MysqlConfig } from '../../config/config.js';
import type { BackendHandle } from '../../store/store.js';
import { MysqlUsermetaTable } from './usermeta.js';

export { MysqlUsermetaTable } from './usermeta.js';

/** One connection attempt may take this long before the request gets its 503. */
export const MYSQL_CONNECT_TIMEOUT_MS = 2000;
const POOL_SIZE = 10;
const IDLE_TIMEOUT_MS = 60_000;

export interface MysqlDirectory {
  usermeta: MysqlUsermetaTable;
  handle: BackendHandle;
  description: string;
}

/**
 * `queueLimit` (DB_QUEUE_LIMIT, issue 10): requests that may wait for a pooled connection; past
 * it mysql2 refuses at once, which is answered 503 with Retry-After like any MySQL failure,
 * rather than a queue that grows without bound while MySQL is slow. Absent = no bound.
 */
export function openMysqlDirectory(config: MysqlConfig, tablePrefix: string, log: Logger, queueLimit = 0): MysqlDirectory {
  const pool = createPool({
    host: config.host,
    port: config.port,
    user: config.user,
    password: config.password,
    database: config.database,
    // WordPress stores utf8mb4; device names hold emoji, and PHP's lengths count their bytes.
    charset: 'UTF8MB4_UNICODE_CI',
    // umeta_id and user_id are BIGINT UNSIGNED: kept as exact decimal text.
    supportBigNumbers: true,
    bigNumberStrings: true,
    connectTimeout: MYSQL_CONNECT_TIMEOUT_MS,
    connectionLimit: POOL_SIZE,
    maxIdle: POOL_SIZE,
    idleTimeout: IDLE_TIMEOUT_MS,
    waitForConnections: true,
    queueLimit,
    // Finds a peer that vanished without closing the socket (a network cut, not a restart).
    enableKeepAlive: true,
    keepAliveInitialDelay: 10_000,
  });
  const usermeta = new MysqlUsermetaTable(pool, tablePrefix, log);
  return {
    usermeta,
    description: `mysql ${config.user}@${config.host}:${config.port}/${config.database} (table ${tablePrefix}usermeta)`,
    handle: { name: 'mysql', ping: () => usermeta.ping(), close: () => usermeta.close() },
  };
}
