/**
 * SPEC §8: configuration from the environment and a `.env` file in the working directory.
 * Every variable is read and checked here, once; a bad value stops start-up with one
 * line naming the variable (ConfigError).
 */
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { readCredentialSettings, readTrustProxy, type CredentialSettings, type TrustProxy } from './credentials.js';
import { readHardeningConfig, type HardeningConfig } from './hardening.js';
import { readConsumerConfig, type ConsumerConfig } from '../consumer/config.js';
import { readOperatorSettings, type OperatorSettings } from '../operator/settings.js';
import { optionalClusterNodes, type ClusterNodeAddress } from './redis-cluster.js';

/** A setting that cannot be used; `message` is the one line printed at start-up. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`${variable}: ${problem}`);
    this.name = 'ConfigError';
  }
}

export const SESSION_KEY_BITS_ALLOWED = [2048, 3072, 4096] as const;
export type SessionKeyBits = (typeof SESSION_KEY_BITS_ALLOWED)[number];

export interface MysqlConfig {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
}

export interface RedisConfig {
  /** REDIS_URL when given; it wins over host, port and password. */
  url: string | undefined;
  host: string;
  port: number;
  password: string | undefined;
  mainDb: number;
  authDb: number;
  keyPrefix: string;
  /** REDIS_CLUSTER_NODES: set = a Redis Cluster (database 0 only; src/config/redis-cluster.ts). */
  clusterNodes?: ClusterNodeAddress[] | undefined;
}

export interface Config {
  host: string;
  port: number;
  /** The WordPress database; undefined = the embedded SQLite directory. */
  mysql: MysqlConfig | undefined;
  tablePrefix: string;
  /** Redis for sessions and messages; undefined = the embedded SQLite store. */
  redis: RedisConfig | undefined;
  wpUuidMetaKey: string;
  wpDevicesMetaKey: string;
  userIdLength: number;
  sessionKeyBits: SessionKeyBits;
  sessionTtlSeconds: number;
  messageTtlSeconds: number;
  maxBodyBytes: number;
  /** Minutes; 0 = no freshness check. */
  minuteWindow: number;
  dataDir: string;
  logLevel: string;
  /** Requests per client address per window on /api; 0 = no limit. */
  rateLimitMax: number;
  rateLimitWindowSeconds: number;
  /** Which proxies' X-Forwarded-For gives the client address (TRUST_PROXY, SPEC §10): none, a hop count, or their addresses. */
  trustProxy: TrustProxy;
  /** SPEC §10: device secrets, revocation rechecks, failure budgets (src/config/credentials.ts). */
  credentials: CredentialSettings;
  /** Browser origins allowed by CORS (CORS_ORIGINS); empty = none, `['*']` = any. */
  corsOrigins: string[];
  /** Server processes sharing the port (WORKERS); 1 = no cluster, everything in this process. */
  workers: number;
  /** Session key pairs each process keeps ready (KEY_POOL_SIZE); 0 = generate each one when asked. */
  keyPoolSize: number;
  /** Sessions per process whose parsed private key and unwrapped AES keys are kept (KEY_CACHE_SESSIONS); 0 = none. */
  keyCacheSessions: number;
  /** SPEC §10 (per-session limit) and §11: envelope and key hardening (src/config/hardening.ts). */
  hardening: HardeningConfig;
  /** SPEC §9: API_TOKENS and the WEBHOOK_* settings (src/consumer/config.ts). */
  consumer: ConsumerConfig;
  /** The operator listener, load shedding and the shutdown deadline (SPEC §12; src/operator/settings.ts). */
  operator: OperatorSettings;
}

export type Env = Record<string, string | undefined>;

/** The environment with `.env` from `cwd` underneath: a real environment variable wins. */
export function loadEnv(cwd = process.cwd(), env: Env = process.env): Env {
  const file = resolve(cwd, '.env');
  const fromFile = existsSync(file) ? parseDotenv(readFileSync(file)) : {};
  return { ...fromFile, ...env };
}

/** Reads one setting at a time from an environment; every area of the configuration shares it. */
export class Reader {
  constructor(private readonly env: Env) {}

  /** An empty value counts as unset, so `REDIS_PASSWORD=` in a .env changes nothing. */
  raw(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value === '' ? undefined : value;
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  required(name: string, why: string): string {
    const value = this.raw(name);
    if (value === undefined) throw new ConfigError(name, `required ${why}`);
    return value;
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (!/^\d+$/.test(value.trim()) || Number(value) < min || Number(value) > max) {
      throw new ConfigError(name, `must be a whole number from ${min} to ${max} (got "${value}")`);
    }
    return Number(value);
  }

  boolean(name: string, fallback: boolean): boolean {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (/^(1|true|yes|on)$/i.test(value)) return true;
    if (/^(0|false|no|off)$/i.test(value)) return false;
    throw new ConfigError(name, `must be true or false (got "${value}")`);
  }

  pattern(name: string, fallback: string, pattern: RegExp, what: string): string {
    const value = this.raw(name) ?? fallback;
    if (!pattern.test(value)) throw new ConfigError(name, `must be ${what} (got "${value}")`);
    return value;
  }
}

/**
 * CORS_ORIGINS: comma-separated origins, or `*` alone. Each must be exactly an origin
 * (`scheme://host[:port]`, no path or trailing slash), because browsers compare the
 * Origin header byte for byte and a near miss would silently allow nothing.
 */
function readCorsOrigins(read: Reader): string[] {
  const value = read.raw('CORS_ORIGINS');
  if (value === undefined) return [];
  const origins = value.split(',').map((part) => part.trim()).filter((part) => part !== '');
  if (origins.includes('*')) {
    if (origins.length > 1) throw new ConfigError('CORS_ORIGINS', `"*" must stand alone (got "${value}")`);
    return ['*'];
  }
  for (const origin of origins) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined || !/^https?:$/.test(parsed.protocol) || parsed.origin !== origin) {
      throw new ConfigError('CORS_ORIGINS', `"${origin}" is not an origin like https://example.com or http://127.0.0.1:8080`);
    }
  }
  return origins;
}

const MAX_TTL_SECONDS = 10 * 365 * 24 * 3600;
/** SESSION_TTL_SECONDS when unset (a week); exported for stores opened without a Config. */
export const DEFAULT_SESSION_TTL_SECONDS = 604800;
const REDIS_SETTINGS = [
  'REDIS_URL',
  'REDIS_HOST',
  'REDIS_PORT',
  'REDIS_PASSWORD',
  'REDIS_MAIN_DB',
  'REDIS_AUTH_DB',
  'REDIS_KEY_PREFIX',
  'REDIS_CLUSTER_NODES',
] as const;

/** Reads and checks every setting of SPEC §8. Throws ConfigError on the first bad one. */
export function readConfig(env: Env): Config {
  const read = new Reader(env);

  const sessionKeyBits = read.integer('SESSION_KEY_BITS', 2048, 0, 1 << 20);
  if (!(SESSION_KEY_BITS_ALLOWED as readonly number[]).includes(sessionKeyBits)) {
    throw new ConfigError('SESSION_KEY_BITS', `must be one of ${SESSION_KEY_BITS_ALLOWED.join(', ')} (got "${sessionKeyBits}")`);
  }

  const dbHost = read.raw('DB_HOST');
  const mysql: MysqlConfig | undefined =
    dbHost === undefined
      ? undefined
      : {
          host: dbHost,
          port: read.integer('DB_PORT', 3306, 1, 65535),
          database: read.required('DB_NAME', 'when DB_HOST is set'),
          user: read.required('DB_USER', 'when DB_HOST is set'),
          password: read.string('DB_PASSWORD', ''),
        };

  const redisUrl = read.raw('REDIS_URL');
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl)) {
    // The value is not echoed: a URL may hold the password.
    throw new ConfigError('REDIS_URL', 'must start with redis:// or rediss:// (value not shown: it may hold a password)');
  }
  const redis: RedisConfig | undefined = REDIS_SETTINGS.some((name) => read.raw(name) !== undefined)
    ? {
        url: redisUrl,
        host: read.string('REDIS_HOST', '127.0.0.1'),
        port: read.integer('REDIS_PORT', 6581, 1, 65535),
        password: read.raw('REDIS_PASSWORD'),
        mainDb: read.integer('REDIS_MAIN_DB', 1, 0, 15),
        authDb: read.integer('REDIS_AUTH_DB', 2, 0, 15),
        keyPrefix: read.string('REDIS_KEY_PREFIX', ''),
        // Only when set, so a single Redis's settings read exactly as before.
        ...optionalClusterNodes(read),
      }
    : undefined;
  if (redis !== undefined && redis.clusterNodes === undefined && redis.mainDb === redis.authDb) {
    throw new ConfigError('REDIS_AUTH_DB', `must differ from REDIS_MAIN_DB (both are ${redis.mainDb})`);
  }

  return {
    host: read.string('HOST', '0.0.0.0'),
    port: read.integer('PORT', 8000, 0, 65535),
    mysql,
    // Interpolated into SQL identifiers, so only the characters WordPress itself allows.
    tablePrefix: read.pattern('DB_TABLE_PREFIX', 'wp_', /^[A-Za-z0-9_]{0,64}$/, 'letters, digits and underscores'),
    redis,
    wpUuidMetaKey: read.pattern('WP_UUID_META_KEY', 'uuid', /^.{1,255}$/u, '1 to 255 characters'),
    wpDevicesMetaKey: read.pattern('WP_DEVICES_META_KEY', 'devices', /^.{1,255}$/u, '1 to 255 characters'),
    userIdLength: read.integer('USER_ID_LENGTH', 36, 1, 199),
    sessionKeyBits: sessionKeyBits as SessionKeyBits,
    sessionTtlSeconds: read.integer('SESSION_TTL_SECONDS', DEFAULT_SESSION_TTL_SECONDS, 0, MAX_TTL_SECONDS),
    messageTtlSeconds: read.integer('MESSAGE_TTL_SECONDS', 0, 0, MAX_TTL_SECONDS),
    maxBodyBytes: read.integer('MAX_BODY_BYTES', 262144, 1024, 64 * 1024 * 1024),
    minuteWindow: read.integer('MINUTE_WINDOW', 0, 0, 1_000_000_000),
    dataDir: resolve(read.string('DATA_DIR', './data')),
    rateLimitMax: read.integer('RATE_LIMIT_MAX', 0, 0, 1_000_000_000),
    rateLimitWindowSeconds: read.integer('RATE_LIMIT_WINDOW_SECONDS', 60, 1, 86_400),
    trustProxy: readTrustProxy(read),
    credentials: readCredentialSettings(read),
    workers: read.integer('WORKERS', availableParallelism(), 1, 256),
    keyPoolSize: read.integer('KEY_POOL_SIZE', 64, 0, 100_000),
    keyCacheSessions: read.integer('KEY_CACHE_SESSIONS', 4096, 0, 1_000_000),
    corsOrigins: readCorsOrigins(read),
    hardening: readHardeningConfig(read, env),
    consumer: readConsumerConfig(read),
    operator: readOperatorSettings(read),
    logLevel: read.pattern('LOG_LEVEL', 'info', /^(fatal|error|warn|info|debug|trace|silent)$/, 'fatal, error, warn, info, debug, trace or silent'),
  };
}
