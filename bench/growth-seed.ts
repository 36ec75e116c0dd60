/**
 * Seeding for the growth bench (issue 15): many sessions and messages written straight into a
 * store, because 100k real auths would need 100k RSA key generations (about 7 per second here).
 *
 * The rows are the server's own: records from `encodeSession` / `encodeMessage`, ids from
 * SPEC §6's `messageId`, expiries from `expiryFrom` with the configured TTLs, SQLite's
 * set-if-absent statement from the store (`setIfAbsentStatement`), Redis key names from
 * `RedisKeys` (keys.ts) in the databases REDIS_MAIN_DB / REDIS_AUTH_DB name. Each message gets its log
 * entry as the server writes it (SPEC §9): a `message_log` row in storage order on SQLite; on
 * Redis, a sequence number taken from `{sms-log}:seq` and the id added to `{sms-log}:entries`
 * with it as score (what storeMessage-4.lua does one message at a time). Writes go in big
 * transactions (SQLite, one per wave, synchronous=OFF: a seed is rebuilt, not recovered) and
 * pipelines (Redis): far faster than the server's one-at-a-time durable path, which is not what
 * this seeds for. test/growth-seed.test.ts checks that the real server reads what this writes.
 *
 * The schema is created first by opening the store the way the server does (`openBackends`).
 * The private keys of seeded sessions come from a small set of real RSA key pairs reused across
 * the sessions (a record holds one PEM; the server never compares them across sessions).
 */
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pino from 'pino';
import { openBackends } from '../src/backends/index.js';
import { Redis } from 'ioredis';
import { RedisKeys } from '../src/backends/redis/keys.js';
import { EMBEDDED_DATABASE_FILE, expiryFrom } from '../src/backends/sqlite/database.js';
import { setIfAbsentStatement } from '../src/backends/sqlite/store.js';
import { readConfig, type Config } from '../src/config/config.js';
import { messageId } from '../src/protocol/message-id.js';
import { encodeMessage, encodeSession, type MessageRecord, type SessionRecord } from '../src/store/store.js';

/** The device id of every seeded session (SPEC §2 grammar). */
export const SEEDED_DEVICE = 'seeded-device';
export const SEEDED_DEVICE_NAME = 'Seeded device';
/** Rows per transaction / pipeline. */
const WAVE = 10_000;

const silent = pino({ level: 'silent' });

export interface Seeder {
  readonly config: Config;
  /** Sessions number `from` .. `to - 1`, with the configured SESSION_TTL_SECONDS. */
  sessions(from: number, to: number, privateKeys: readonly string[]): Promise<void>;
  /** Messages number `from` .. `to - 1` with their log entries, spread over seeded sessions 0 .. `sessions - 1`. */
  messages(from: number, to: number, sessions: number, payloadBytes: number): Promise<void>;
  close(): Promise<void>;
}

/** `count` real RSA key pairs (PKCS#8 / SPKI PEM), to be shared by the seeded sessions. */
export function seedKeyPairs(count: number, bits = 2048): Array<{ privateKey: string; publicKey: string }> {
  return Array.from({ length: count }, () =>
    generateKeyPairSync('rsa', {
      modulusLength: bits,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    }),
  );
}

/** The user UUID of seeded session number `n`: version-4-shaped, distinct per n. */
export function seededUuid(n: number): string {
  const hex = n.toString(16).padStart(20, '0');
  return `5eed0000-${hex.slice(0, 4)}-4${hex.slice(4, 7)}-8${hex.slice(7, 10)}-${hex.slice(10, 20).padStart(12, '0')}`;
}

export function seededClientKey(n: number): string {
  return `${seededUuid(n)}${SEEDED_DEVICE}`;
}

export function seededSession(n: number, privateKeys: readonly string[], createdAt: string): SessionRecord {
  return {
    user_id: seededUuid(n),
    device_id: SEEDED_DEVICE,
    device_name: SEEDED_DEVICE_NAME,
    private_key: privateKeys[n % privateKeys.length] as string,
    created_at: createdAt,
  };
}

/** The plaintext of seeded message number `n`: JSON of about `bytes` bytes, as the bench's devices send. */
export function seededPayload(n: number, bytes: number): string {
  const head = JSON.stringify({ n, seeded: true, text: '' });
  return JSON.stringify({ n, seeded: true, text: 'x'.repeat(Math.max(0, bytes - head.length)) });
}

/** Message number `n` as a submit from seeded session `n % sessions` stores it. */
export function seededMessage(n: number, sessions: number, payloadBytes: number, minute: number, receivedAt: string): MessageRecord {
  const userId = seededUuid(n % Math.max(1, sessions));
  const payload = seededPayload(n, payloadBytes);
  return {
    id: messageId(userId, SEEDED_DEVICE, String(minute), Buffer.from(payload, 'utf8')),
    user_id: userId,
    device_id: SEEDED_DEVICE,
    device_name: SEEDED_DEVICE_NAME,
    minute,
    received_at: receivedAt,
    payload,
  };
}

/** A seeder for the store the server would use with `env` (SPEC §8: Redis when configured, else the embedded file). */
export async function openSeeder(env: Record<string, string>): Promise<Seeder> {
  const config = readConfig(env);
  // The schema (and any start-up step of the store) exactly as the server makes it.
  const backends = await openBackends(config, silent);
  await backends.close();
  return config.redis === undefined ? sqliteSeeder(config) : redisSeeder(config);
}

function sqliteSeeder(config: Config): Seeder {
  const db = new Database(join(config.dataDir, EMBEDDED_DATABASE_FILE));
  db.pragma('busy_timeout = 5000');
  db.pragma('synchronous = OFF');
  const putSession = db.prepare(setIfAbsentStatement('sessions', 'key'));
  const putMessage = db.prepare(setIfAbsentStatement('messages', 'id'));
  // The entry message-log.ts appends beside each stored record: seq is AUTOINCREMENT (storage order).
  const appendEntry = db.prepare(`INSERT INTO message_log (id) VALUES (?)`);
  const inWaves = (from: number, to: number, row: (n: number, now: number) => void): void => {
    for (let start = from; start < to; start += WAVE) {
      const end = Math.min(to, start + WAVE);
      db.transaction(() => {
        const now = Date.now();
        for (let n = start; n < end; n++) row(n, now);
      }).immediate();
    }
  };
  return {
    config,
    async sessions(from, to, privateKeys) {
      const createdAt = new Date().toISOString();
      inWaves(from, to, (n, now) => {
        const result = putSession.run({
          key: seededClientKey(n),
          record: encodeSession(seededSession(n, privateKeys, createdAt)),
          expiresAt: expiryFrom(now, config.sessionTtlSeconds),
          now,
        });
        if (result.changes !== 1) throw new Error(`seeded session ${n} already existed`);
      });
    },
    async messages(from, to, sessions, payloadBytes) {
      const minute = Math.floor(Date.now() / 60_000);
      const receivedAt = new Date().toISOString();
      inWaves(from, to, (n, now) => {
        const record = seededMessage(n, sessions, payloadBytes, minute, receivedAt);
        const result = putMessage.run({ id: record.id, record: encodeMessage(record), expiresAt: expiryFrom(now, config.messageTtlSeconds), now });
        if (result.changes !== 1) throw new Error(`seeded message ${n} was a duplicate`);
        appendEntry.run(record.id);
      });
    },
    async close() {
      db.close();
    },
  };
}

function redisSeeder(config: Config): Seeder {
  const redis = config.redis!;
  // Connections of its own, not the server's (openRedisConnections): those time a command out
  // after a few seconds, and a wave of WAVE writes on a loaded machine takes longer.
  const connect = (db: number): Redis =>
    redis.url !== undefined
      ? new Redis(redis.url, { db, lazyConnect: true })
      : new Redis({ host: redis.host, port: redis.port, password: redis.password, db, lazyConnect: true });
  const sessionsClient = connect(redis.authDb);
  const messagesClient = connect(redis.mainDb);
  const connections = { sessions: sessionsClient, messages: messagesClient };
  const keys = new RedisKeys(redis.keyPrefix);
  const ready = Promise.all([sessionsClient.connect(), messagesClient.connect()]);
  // Every SET … NX must answer OK: null would mean the key was there already.
  const check = (replies: Array<[Error | null, unknown]> | null, what: string): void => {
    const failed = (replies ?? []).find(([error, reply]) => error !== null || reply === null);
    if (replies === null || failed !== undefined) throw new Error(`seeding ${what}: ${failed?.[0]?.message ?? 'a key already existed'}`);
  };
  return {
    config,
    async sessions(from, to, privateKeys) {
      await ready;
      const createdAt = new Date().toISOString();
      for (let start = from; start < to; start += WAVE) {
        const pipeline = connections.sessions.pipeline();
        for (let n = start; n < Math.min(to, start + WAVE); n++) {
          const value = encodeSession(seededSession(n, privateKeys, createdAt));
          // As RedisSessionStore.create: SET … NX, with EX when sessions expire.
          if (config.sessionTtlSeconds > 0) pipeline.set(keys.session(seededClientKey(n)), value, 'EX', config.sessionTtlSeconds, 'NX');
          else pipeline.set(keys.session(seededClientKey(n)), value, 'NX');
        }
        check(await pipeline.exec(), 'sessions');
      }
    },
    async messages(from, to, sessions, payloadBytes) {
      await ready;
      const minute = Math.floor(Date.now() / 60_000);
      const receivedAt = new Date().toISOString();
      for (let start = from; start < to; start += WAVE) {
        const end = Math.min(to, start + WAVE);
        // A block of sequence numbers at once, as WAVE INCRs would give (nothing else writes meanwhile).
        const last = await connections.messages.incrby(keys.logSequence, end - start);
        let sequence = last - (end - start);
        const pipeline = connections.messages.pipeline();
        const entries: Array<number | string> = [];
        for (let n = start; n < end; n++) {
          const record = seededMessage(n, sessions, payloadBytes, minute, receivedAt);
          if (config.messageTtlSeconds > 0) pipeline.set(keys.message(record.id), encodeMessage(record), 'EX', config.messageTtlSeconds, 'NX');
          else pipeline.set(keys.message(record.id), encodeMessage(record), 'NX');
          entries.push(++sequence, record.id);
        }
        pipeline.zadd(keys.logEntries, ...entries);
        check(await pipeline.exec(), 'messages');
      }
    },
    async close() {
      await Promise.allSettled([sessionsClient.quit(), messagesClient.quit()]);
    },
  };
}
