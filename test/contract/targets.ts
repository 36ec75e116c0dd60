/**
 * The backends the contract suites run against, behind one shape each: a store (SQLite or
 * Redis) and a directory (SQLite or MySQL). A target opens the production implementation
 * from the test process, talking to the same data as a server started with `env`, and adds
 * what only a test needs: the raw stored bytes and expiries.
 */
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import pino from 'pino';
import { openMysqlDirectory } from '../../src/backends/mysql/index.js';
import { openRedisStore, RedisKeys } from '../../src/backends/redis/index.js';
import { openEmbeddedDatabase } from '../../src/backends/sqlite/database.js';
import { SqliteMessageStore, SqliteSessionStore } from '../../src/backends/sqlite/store.js';
import { SqliteUsermetaTable } from '../../src/backends/sqlite/usermeta.js';
import { Reader, type RedisConfig } from '../../src/config/config.js';
import { readSentinelConfig } from '../../src/config/redis-failover.js';
import { Directory } from '../../src/directory/directory.js';
import type { UsermetaTable } from '../../src/directory/usermeta.js';
import type { MessageStore, SessionStore } from '../../src/store/store.js';
import { META_KEYS } from '../helpers/embedded.js';
import type { MariadbServer } from '../helpers/mariadb-server.js';
import type { RedisCluster } from '../helpers/redis-cluster.js';
import type { RedisServer } from '../helpers/redis-server.js';
import type { SentinelSet } from '../helpers/redis-sentinel.js';

const silent = pino({ level: 'silent' });
export const MAIN_DB = 1;
export const AUTH_DB = 2;

/** Seconds a record has left: a number, `null` for no expiry, `undefined` when it is absent. */
export type Expiry = number | null | undefined;

/** About `expected` seconds left, give or take the time the test itself took. */
export function assertExpiryNear(actual: Expiry, expected: number): void {
  assert.equal(typeof actual, 'number', `expected an expiry near ${expected}s, got ${actual}`);
  assert.ok(Math.abs((actual as number) - expected) < 10, `expiry ${actual}s is not near ${expected}s`);
}

export interface StoreTarget {
  readonly backend: 'sqlite' | 'redis';
  /** The server environment that selects this store (DATA_DIR aside). */
  readonly env: Record<string, string>;
  readonly sessions: SessionStore;
  readonly messages: MessageStore;
  rawSession(key: string): Promise<string | null>;
  rawMessage(id: string): Promise<string | null>;
  sessionExpiry(key: string): Promise<Expiry>;
  messageExpiry(id: string): Promise<Expiry>;
  /** Removes every session and message of this target. */
  reset(): Promise<void>;
  close(): Promise<void>;
}

export interface DirectoryTarget {
  readonly backend: 'sqlite' | 'mysql';
  readonly env: Record<string, string>;
  readonly usermeta: UsermetaTable;
  readonly directory: Directory;
  /** A WordPress user with this UUID (and devices meta value, when given); returns their user id. */
  addUser(uuid: string, devicesMetaValue?: string): Promise<string>;
  /** The user's devices meta_value as WordPress would read it. */
  devicesOf(wpUserId: string): Promise<string | null>;
  close(): Promise<void>;
}

/** The store in DATA_DIR's SQLite file. */
export function sqliteStoreTarget(dataDir: string): StoreTarget {
  const db = openEmbeddedDatabase(dataDir, 'wp_');
  const row = (table: 'sessions' | 'messages', column: 'key' | 'id', value: string) =>
    db.prepare<[string], { record: string; expires_at: number | null }>(`SELECT record, expires_at FROM ${table} WHERE ${column} = ?`).get(value);
  const expiry = (found: { expires_at: number | null } | undefined): Expiry =>
    found === undefined ? undefined : found.expires_at === null ? null : (found.expires_at - Date.now()) / 1000;
  return {
    backend: 'sqlite',
    env: {},
    sessions: new SqliteSessionStore(db),
    messages: new SqliteMessageStore(db),
    rawSession: async (key) => row('sessions', 'key', key)?.record ?? null,
    rawMessage: async (id) => row('messages', 'id', id)?.record ?? null,
    sessionExpiry: async (key) => expiry(row('sessions', 'key', key)),
    messageExpiry: async (id) => expiry(row('messages', 'id', id)),
    reset: async () => {
      db.exec('DELETE FROM sessions; DELETE FROM messages;');
    },
    close: async () => {
      db.close();
    },
  };
}

export function redisConfigFor(redis: RedisServer, keyPrefix: string): RedisConfig {
  return { url: undefined, host: redis.host, port: redis.port, password: redis.env.REDIS_PASSWORD, mainDb: MAIN_DB, authDb: AUTH_DB, keyPrefix };
}

/**
 * A store in SPEC §7's two databases, through the production module (`config`), read back raw by
 * the test's own connections to those databases: one Redis, or the primary behind Sentinel.
 */
async function twoDatabaseTarget(env: Record<string, string>, config: RedisConfig, main: Redis, auth: Redis): Promise<StoreTarget> {
  const store = await openRedisStore(config, silent);
  const keyPrefix = config.keyPrefix;
  const expiry = async (client: Redis, key: string): Promise<Expiry> => {
    const ms = await client.pttl(key);
    return ms === -2 ? undefined : ms === -1 ? null : ms / 1000;
  };
  return {
    backend: 'redis',
    env: { ...env, REDIS_MAIN_DB: String(MAIN_DB), REDIS_AUTH_DB: String(AUTH_DB), ...(keyPrefix === '' ? {} : { REDIS_KEY_PREFIX: keyPrefix }) },
    sessions: store.sessions,
    messages: store.messages,
    rawSession: (key) => auth.get(`${keyPrefix}${key}`),
    rawMessage: (id) => main.get(`${keyPrefix}${id}`),
    sessionExpiry: (key) => expiry(auth, `${keyPrefix}${key}`),
    messageExpiry: (id) => expiry(main, `${keyPrefix}${id}`),
    reset: async () => {
      await Promise.all([main.flushdb(), auth.flushdb()]);
    },
    close: () => store.handle.close(),
  };
}

/** The store in a test Redis, through the production module, under `keyPrefix`. */
export function redisStoreTarget(redis: RedisServer, keyPrefix = ''): Promise<StoreTarget> {
  return twoDatabaseTarget(redis.env, redisConfigFor(redis, keyPrefix), redis.client(MAIN_DB), redis.client(AUTH_DB));
}

export function redisClusterConfigFor(cluster: RedisCluster, keyPrefix: string): RedisConfig {
  return {
    url: undefined,
    host: '127.0.0.1',
    port: 6379,
    password: cluster.env.REDIS_PASSWORD,
    mainDb: 0,
    authDb: 0,
    keyPrefix,
    clusterNodes: cluster.nodes.map((node) => ({ host: node.host, port: node.port })),
  };
}

/** The store in a test Redis Cluster, through the production module; raw keys by keys.ts's cluster layout. */
export async function redisClusterStoreTarget(cluster: RedisCluster, keyPrefix = ''): Promise<StoreTarget> {
  const store = await openRedisStore(redisClusterConfigFor(cluster, keyPrefix), silent);
  const keys = new RedisKeys(keyPrefix, 'cluster');
  const client = cluster.client();
  const expiry = async (key: string): Promise<Expiry> => {
    const ms = await client.pttl(key);
    return ms === -2 ? undefined : ms === -1 ? null : ms / 1000;
  };
  return {
    backend: 'redis',
    env: { ...cluster.env, ...(keyPrefix === '' ? {} : { REDIS_KEY_PREFIX: keyPrefix }) },
    sessions: store.sessions,
    messages: store.messages,
    rawSession: (key) => client.get(keys.session(key)),
    rawMessage: (id) => client.get(keys.message(id)),
    sessionExpiry: (key) => expiry(keys.session(key)),
    messageExpiry: (id) => expiry(keys.message(id)),
    reset: () => cluster.reset(),
    close: () => store.handle.close(),
  };
}

/** The store behind a test Sentinel set (SPEC §13): the production module finds the primary through the sentinels. */
export async function sentinelStoreTarget(set: SentinelSet, keyPrefix = ''): Promise<StoreTarget> {
  // The server's own reading of REDIS_SENTINELS / REDIS_SENTINEL_NAME, so the test connects as a server started with set.env does.
  const sentinel = readSentinelConfig(new Reader(set.env));
  assert.ok(sentinel !== undefined, 'a Sentinel set names its sentinels in REDIS_SENTINELS');
  const config: RedisConfig = {
    url: undefined,
    host: '127.0.0.1',
    port: 6379,
    password: set.password,
    mainDb: MAIN_DB,
    authDb: AUTH_DB,
    keyPrefix,
    sentinel,
  };
  return twoDatabaseTarget(set.env, config, set.client(MAIN_DB), set.client(AUTH_DB));
}

/** Hands out WordPress user ids where the backend cannot invent them (MySQL). */
let nextWpUserId = 1000;

function directoryTarget(backend: DirectoryTarget['backend'], env: Record<string, string>, usermeta: UsermetaTable): DirectoryTarget {
  const directory = new Directory(usermeta, META_KEYS, silent);
  return {
    backend,
    env,
    usermeta,
    directory,
    async addUser(uuid, devicesMetaValue) {
      const wpUserId = await directory.addUser(uuid, backend === 'mysql' ? String(nextWpUserId++) : undefined);
      if (devicesMetaValue !== undefined) await usermeta.insert(wpUserId, META_KEYS.devicesMetaKey, devicesMetaValue);
      return wpUserId;
    },
    devicesOf: (wpUserId) => usermeta.read(wpUserId, META_KEYS.devicesMetaKey),
    close: () => usermeta.close(),
  };
}

/** The directory in DATA_DIR's SQLite file. */
export function sqliteDirectoryTarget(dataDir: string): DirectoryTarget {
  const db = openEmbeddedDatabase(dataDir, 'wp_');
  const target = directoryTarget('sqlite', {}, new SqliteUsermetaTable(db, 'wp_'));
  return {
    ...target,
    close: async () => {
      db.close();
    },
  };
}

/** The directory in a test MariaDB, through the production module and its least-privilege user. */
export function mysqlDirectoryTarget(mariadb: MariadbServer): DirectoryTarget {
  const opened = openMysqlDirectory(
    { host: mariadb.host, port: mariadb.port, database: mariadb.database, user: mariadb.user, password: mariadb.password },
    mariadb.tablePrefix,
    silent,
  );
  return directoryTarget('mysql', mariadb.env, opened.usermeta);
}
