/**
 * The deployments the SPEC §10 suites run against, each as a server would see it: the embedded
 * SQLite file, real Redis + MariaDB, and (for the failure budgets) a real Redis Cluster with the
 * embedded directory. The test side writes the directory with plain
 * SQL on `wp_usermeta`, as WordPress (or its plugin) would, and posts over real HTTP on a fresh
 * connection per request, so that with WORKERS=2 both processes serve.
 */
import { addDevice } from '../../src/directory/device-list.js';
import { RedisKeys } from '../../src/backends/redis/keys.js';
import { openEmbeddedDatabase } from '../../src/backends/sqlite/database.js';
import type { Answer } from '../helpers/http.js';
import { makeDataDir } from '../helpers/server-process.js';
import { skipWithoutMariadb, startMariadbServer } from '../helpers/mariadb-server.js';
import { skipWithoutRedis, startRedisServer } from '../helpers/redis-server.js';
import { startRedisCluster } from '../helpers/redis-cluster.js';
import { skipIfAny, startBoth } from '../helpers/real-backends.js';

export interface DeviceSeed {
  id: string;
  name?: string;
  /** A `secret_sha256` entry. */
  secretSha256?: string;
}

export interface Deployment {
  readonly name: string;
  /** What the server (and the admin command) needs to use it. */
  readonly env: Record<string, string>;
  /** A statement on the directory's database; returns the rows. */
  sql(statement: string, params?: unknown[]): Promise<Array<Record<string, unknown>>>;
  /** A WordPress user with this UUID and these devices (a map-shaped value); returns the user id. */
  addUser(uuid: string, devices: DeviceSeed[]): Promise<string>;
  /** Replaces the user's devices meta_value, as update_user_meta() does. */
  setDevicesValue(wpUserId: string, metaValue: string): Promise<void>;
  devicesValue(wpUserId: string): Promise<string | null>;
  /** Every failure-budget subject the store counts right now. */
  failureSubjects(): Promise<string[]>;
  close(): Promise<void>;
}

/** The map-shaped value WordPress plugins write: id => array(name, status[, secret_sha256]). */
export function devicesMetaValue(devices: DeviceSeed[]): string {
  let value: string | null = null;
  for (const device of devices) value = addDevice(value, device.id, device.name ?? device.id, device.secretSha256);
  return value ?? 'a:0:{}';
}

let nextUserId = 100;

function deployment(
  name: string,
  env: Record<string, string>,
  sql: Deployment['sql'],
  failureSubjects: () => Promise<string[]>,
  close: () => Promise<void>,
): Deployment {
  return {
    name,
    env,
    sql,
    failureSubjects,
    async addUser(uuid, devices) {
      const wpUserId = String(nextUserId++);
      await sql(`INSERT INTO wp_usermeta (user_id, meta_key, meta_value) VALUES (?, 'uuid', ?)`, [wpUserId, uuid]);
      await sql(`INSERT INTO wp_usermeta (user_id, meta_key, meta_value) VALUES (?, 'devices', ?)`, [wpUserId, devicesMetaValue(devices)]);
      return wpUserId;
    },
    async setDevicesValue(wpUserId, metaValue) {
      await sql(`UPDATE wp_usermeta SET meta_value = ? WHERE user_id = ? AND meta_key = 'devices'`, [metaValue, wpUserId]);
    },
    async devicesValue(wpUserId) {
      const rows = await sql(`SELECT meta_value FROM wp_usermeta WHERE user_id = ? AND meta_key = 'devices' ORDER BY umeta_id LIMIT 1`, [wpUserId]);
      return (rows[0]?.meta_value as string | undefined) ?? null;
    },
    close,
  };
}

/** Statements on the embedded file's wp_usermeta, as WordPress would run them. */
function embeddedSql(db: ReturnType<typeof openEmbeddedDatabase>): Deployment['sql'] {
  return async (statement, params = []) => {
    const prepared = db.prepare(statement);
    if (prepared.reader) return prepared.all(...params) as Array<Record<string, unknown>>;
    prepared.run(...params);
    return [];
  };
}

export function startEmbeddedDeployment(): Deployment {
  const data = makeDataDir();
  const db = openEmbeddedDatabase(data.dir, 'wp_');
  const sql = embeddedSql(db);
  const subjects = async (): Promise<string[]> =>
    (db.prepare(`SELECT subject FROM failure_budgets WHERE window_ends_at > ?`).all(Date.now()) as Array<{ subject: string }>).map((row) => row.subject);
  return deployment('embedded SQLite', { DATA_DIR: data.dir }, sql, subjects, async () => {
    db.close();
    data.remove();
  });
}

/** Real Redis (sessions, messages, budgets) and MariaDB (the WordPress directory). */
export async function startRealDeployment(): Promise<Deployment & { generalLog(needle: string): Promise<number> }> {
  const [redis, mariadb] = await startBoth(startRedisServer(), startMariadbServer());
  const data = makeDataDir();
  const base = deployment(
    'Redis + MariaDB',
    { ...redis.env, ...mariadb.env, DATA_DIR: data.dir },
    (statement, params) => mariadb.sql(statement, params),
    // REDIS_MAIN_DB (1 by default) holds the counters, named by src/backends/redis/keys.ts.
    async () => {
      const prefix = new RedisKeys('').failures('');
      return (await redis.client(1).keys(`${prefix}*`)).map((key) => key.slice(prefix.length));
    },
    async () => {
      await Promise.all([redis.close(), mariadb.close()]);
      data.remove();
    },
  );
  await mariadb.sql(`SET GLOBAL log_output = 'TABLE'`);
  await mariadb.sql(`SET GLOBAL general_log = 'ON'`);
  return {
    ...base,
    /** Statements run (not prepared) that MariaDB's general log holds and that mention `needle` (the server's own, not root's). */
    async generalLog(needle) {
      const rows = await mariadb.sql<{ n: number | string }>(
        `SELECT COUNT(*) AS n FROM mysql.general_log
         WHERE user_host NOT LIKE 'root%' AND command_type IN ('Execute', 'Query') AND CAST(argument AS CHAR) LIKE ?`,
        [`%${needle}%`],
      );
      return Number(rows[0]?.n ?? 0);
    },
  };
}

/** A real Redis Cluster (3 primaries, 3 replicas: sessions, messages, budgets; SPEC §13) and the embedded directory. */
export async function startClusterDeployment(): Promise<Deployment> {
  const cluster = await startRedisCluster();
  const data = makeDataDir();
  const db = openEmbeddedDatabase(data.dir, 'wp_');
  // The counters spread over every master (keys.ts: no hash tag), so each is asked.
  const prefix = new RedisKeys('', 'cluster').failures('');
  const subjects = async (): Promise<string[]> => {
    const perMaster = await Promise.all((await cluster.masters()).map((node) => cluster.nodeClient(node).keys(`${prefix}*`)));
    return perMaster.flat().map((key) => key.slice(prefix.length));
  };
  return deployment('Redis Cluster', { ...cluster.env, DATA_DIR: data.dir }, embeddedSql(db), subjects, async () => {
    db.close();
    await cluster.close();
    data.remove();
  });
}

export const skipRealDeployment = (suite: string): string | false =>
  skipIfAny(skipWithoutRedis(suite), skipWithoutMariadb(suite));

/** POST /api on a connection of its own: the cluster hands each new connection to the next worker. */
export { postOnNewConnection as post, type Answer } from '../helpers/http.js';

/** What a client can observe of an answer, minus the headers that differ on every response. */
export function observable(answer: Answer): string {
  const { date, ...headers } = answer.headers;
  void date;
  return JSON.stringify({ status: answer.status, headers, text: answer.text });
}
