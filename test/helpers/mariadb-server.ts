/**
 * A private MariaDB for tests and benchmarks: a fresh data folder made by mariadb-install-db,
 * mariadbd on a free loopback port and a socket in that folder, never a database server
 * already running on the machine. It holds a WordPress-shaped database: `wp_usermeta` exactly
 * as WordPress creates it, and a user with SELECT, INSERT and UPDATE on that table only, the
 * grants docs/PRODUCTION.md asks of a real site. It can be stopped (gracefully, or killed),
 * paused and started again on the same port, for the fault tests.
 *
 *   const db = await startMariadbServer();
 *   startServerProcess({ ...db.env, ... });   // DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD
 *   await db.sql('SELECT meta_value FROM wp_usermeta WHERE user_id = ?', [1]);   // as root
 *   await db.close();
 *
 * Suites that need it use `skip: skipWithoutMariadb('the suites')`.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection, type Connection } from 'mysql2/promise';
import { findBinary, freePort, requireBinary, skipUnlessInstalled, readLogFile, serverProcess, trackFolder, type ManagedServer } from './real-backends.js';

const SERVER = 'mariadbd';
const INSTALL_DB = 'mariadb-install-db';
const INSTALL = "Debian's mariadb-server (apt-get install mariadb-server)";
const START_TIMEOUT_MS = 60_000;

/** The `skip` option for suites that need mariadbd (see real-backends.ts). */
export function skipWithoutMariadb(suites: string): string | false {
  const missing = [SERVER, INSTALL_DB].filter((name) => findBinary(name) === null);
  return skipUnlessInstalled(suites, missing.map((binary) => ({ binary, install: INSTALL })));
}

/** WordPress's own definition (wp-admin/includes/schema.php), prefix aside. */
export function usermetaTableSql(tablePrefix: string): string {
  return `CREATE TABLE \`${tablePrefix}usermeta\` (
    umeta_id bigint(20) unsigned NOT NULL auto_increment,
    user_id bigint(20) unsigned NOT NULL default '0',
    meta_key varchar(255) default NULL,
    meta_value longtext,
    PRIMARY KEY  (umeta_id),
    KEY user_id (user_id),
    KEY meta_key (meta_key(191))
  ) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci`;
}

export interface MariadbServerOptions {
  database?: string;
  user?: string;
  password?: string;
  tablePrefix?: string;
}

export interface MariadbServer extends ManagedServer {
  readonly database: string;
  readonly user: string;
  readonly password: string;
  readonly tablePrefix: string;
  /** A statement as root over the socket (seeding, assertions, grants); returns the rows. */
  sql<T = Record<string, unknown>>(statement: string, params?: unknown[]): Promise<T[]>;
  /** Empties the usermeta table, so tests in one file start alike. */
  reset(): Promise<void>;
}

export async function startMariadbServer(options: MariadbServerOptions = {}): Promise<MariadbServer> {
  const mariadbd = requireBinary(SERVER, INSTALL);
  const installDb = requireBinary(INSTALL_DB, INSTALL);
  const database = options.database ?? 'wordpress';
  const user = options.user ?? 'wp';
  const password = options.password ?? 'wp-test-password';
  const tablePrefix = options.tablePrefix ?? 'wp_';
  const dir = mkdtempSync(join(tmpdir(), 'sms-mariadb-'));
  const removeDir = trackFolder(dir);
  const dataDir = join(dir, 'data');
  const socket = join(dir, 'mariadb.sock');
  const errorLog = join(dir, 'error.log');
  const port = await freePort();
  // mariadbd refuses to run as root unless told to; elsewhere it runs as whoever starts it.
  const asRoot = process.getuid?.() === 0 ? ['--user=root'] : [];
  // Small and quick: a test database needs neither a large buffer pool nor a 96 MB redo log.
  const sizing = ['--innodb-buffer-pool-size=32M', '--innodb-log-file-size=8M'];

  // Temporary tables in the server's own folder, not the shared /tmp: there the bootstrap's files met
  // other processes' cleanups on a busy machine ("Could not remove temporary table", install failed).
  const tmp = join(dir, 'tmp');
  const tmpArgs = [`--tmpdir=${tmp}`];

  mkdirSync(dataDir);
  mkdirSync(tmp);
  const install = spawnSync(
    installDb,
    ['--no-defaults', `--datadir=${dataDir}`, '--auth-root-authentication-method=normal', '--skip-test-db', '--skip-name-resolve', ...asRoot, ...sizing, ...tmpArgs],
    { encoding: 'utf8' },
  );
  if (install.status !== 0) {
    removeDir();
    throw new Error(`mariadb-install-db failed (${install.status}):\n${install.stdout}\n${install.stderr}`);
  }

  const args = [
    '--no-defaults',
    `--datadir=${dataDir}`,
    `--socket=${socket}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    `--pid-file=${join(dir, 'mariadb.pid')}`,
    `--log-error=${errorLog}`,
    '--skip-name-resolve',
    '--skip-log-bin',
    '--performance-schema=OFF',
    '--character-set-server=utf8mb4',
    '--collation-server=utf8mb4_unicode_520_ci',
    ...asRoot,
    ...sizing,
    ...tmpArgs,
  ];
  let root: Connection | undefined;
  /** Set once the database exists, so a root connection opened after a restart selects it too. */
  let rootDatabase: string | undefined;
  const readLog = (): string => readLogFile(errorLog);
  const rootConnection = async (): Promise<Connection> => {
    if (root === undefined) {
      root = await createConnection({ socketPath: socket, user: 'root', database: rootDatabase, charset: 'UTF8MB4_UNICODE_CI', supportBigNumbers: true, bigNumberStrings: true });
      // A root connection broken by a stop is dropped; the next statement opens a fresh one.
      root.on('error', () => {
        root = undefined;
      });
    }
    return root;
  };
  const dropRoot = async (): Promise<void> => {
    const connection = root;
    root = undefined;
    await connection?.end().catch(() => connection.destroy());
  };

  const lifecycle = serverProcess({
    binary: mariadbd,
    args,
    description: `mariadbd on port ${port}`,
    ready: async () => {
      await (await rootConnection()).query('SELECT 1');
      return true;
    },
    readLog,
    timeoutMs: START_TIMEOUT_MS,
  });
  const stop = async (signal?: 'SIGTERM' | 'SIGKILL'): Promise<void> => {
    await dropRoot();
    await lifecycle.stop(signal);
  };

  const sql = async <T,>(statement: string, params: unknown[] = []): Promise<T[]> => {
    const [rows] = await (await rootConnection()).query(statement, params);
    return rows as T[];
  };

  try {
    await lifecycle.start();
    await sql(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci`);
    await sql(`USE \`${database}\``);
    rootDatabase = database;
    await sql(usermetaTableSql(tablePrefix));
    await sql(`CREATE USER ?@'127.0.0.1' IDENTIFIED BY ?`, [user, password]);
    await sql(`GRANT SELECT, INSERT, UPDATE ON \`${database}\`.\`${tablePrefix}usermeta\` TO ?@'127.0.0.1'`, [user]);
  } catch (error) {
    // Half set up: nothing may outlive the failure (a live mariadbd or root connection keeps the
    // test process from exiting).
    await stop('SIGKILL');
    removeDir();
    throw error;
  }

  return {
    host: '127.0.0.1',
    port,
    dir,
    database,
    user,
    password,
    tablePrefix,
    env: {
      DB_HOST: '127.0.0.1',
      DB_PORT: String(port),
      DB_NAME: database,
      DB_USER: user,
      DB_PASSWORD: password,
      DB_TABLE_PREFIX: tablePrefix,
    },
    sql,
    reset: async () => {
      await sql(`TRUNCATE TABLE \`${tablePrefix}usermeta\``);
    },
    ...lifecycle,
    stop,
    log: readLog,
    async close() {
      await stop('SIGKILL');
      removeDir();
    },
  };
}
