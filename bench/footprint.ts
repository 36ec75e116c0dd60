/**
 * `node --import tsx bench/footprint.ts` (docs/SCALING.md): what one session and one stored
 * message cost in the store, measured on the real thing. A real server (WORKERS=1) on a private
 * redis-server, then on the embedded SQLite file; SESSIONS devices authenticate over HTTP and send
 * MESSAGES messages of PAYLOAD_BYTES between them. Reported per session and per message:
 * - Redis: the growth of INFO memory `used_memory` over each phase, and MEMORY USAGE of each kind
 *   of key (session record, guard hash, recheck mark, message record; the log's sorted set per entry);
 * - SQLite: the growth of the file's used pages (page_count − freelist_count) × page_size after a
 *   checkpoint, over each phase.
 * Prints one JSON line on stdout; progress on stderr. Settings: BENCH_FOOTPRINT_SESSIONS (200),
 * BENCH_FOOTPRINT_MESSAGES (4000), BENCH_FOOTPRINT_PAYLOAD_BYTES (200), BENCH_FOOTPRINT_ENC (AES-GCM; or AES-CBC).
 */
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { EMBEDDED_DATABASE_FILE } from '../src/backends/sqlite/database.js';
import { encryptEnvelope } from '../test/helpers/encrypt.js';
import { postForm } from '../test/helpers/http.js';
import { startRedisServer } from '../test/helpers/redis-server.js';
import { makeDataDir, startServerProcess, type ServerProcess } from '../test/helpers/server-process.js';
import { seedDirectory } from './seed-directory.js';
import { jsonPayload } from './settings.js';

const SESSIONS = Number(process.env.BENCH_FOOTPRINT_SESSIONS ?? 200);
const MESSAGES = Number(process.env.BENCH_FOOTPRINT_MESSAGES ?? 4000);
const PAYLOAD_BYTES = Number(process.env.BENCH_FOOTPRINT_PAYLOAD_BYTES ?? 200);
/** AES-GCM, as the device SDK sends by default; AES-CBC also leaves a replay claim per message in the session's guard (SPEC §11). */
const ENC = process.env.BENCH_FOOTPRINT_ENC === 'AES-CBC' ? 'AES-CBC' : 'AES-GCM';
const DEVICE = 'footprint';
const MAIN_DB = 1;
const AUTH_DB = 2;
const CONCURRENCY = 8;

const say = (text: string): void => void process.stderr.write(`[footprint] ${text}\n`);
const round = (n: number): number => Math.round(n);

/** Runs `work` over `items`, CONCURRENCY at a time. */
async function inParallel<T>(items: T[], work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < items.length) {
        const index = next++;
        await work(items[index]!, index);
      }
    }),
  );
}

/** Authenticates every uuid's device; returns the public keys. Throws on any answer but `ok`. */
async function authAll(server: ServerProcess, uuids: string[]): Promise<string[]> {
  const pems: string[] = [];
  await inParallel(uuids, async (uuid, i) => {
    const reply = await postForm(server.url, { key: `${uuid}${DEVICE}`, status: 'on' });
    if (reply.body.code !== 0) throw new Error(`auth: ${reply.text}`);
    pems[i] = String(reply.body.message);
  });
  return pems;
}

async function sendAll(server: ServerProcess, uuids: string[], pems: string[]): Promise<void> {
  await inParallel(
    Array.from({ length: MESSAGES }, (_, n) => n),
    async (n) => {
      const i = n % uuids.length;
      const reply = await postForm(server.url, { key: `${uuids[i]}${DEVICE}`, message: encryptEnvelope(pems[i]!, jsonPayload(n, PAYLOAD_BYTES), { enc: ENC }) });
      if (reply.body.message !== 'delivered') throw new Error(`submit: ${reply.text}`);
    },
  );
}

async function redisFootprint() {
  const redis = await startRedisServer();
  const data = makeDataDir();
  const uuids = Array.from({ length: SESSIONS }, () => randomUUID());
  await seedDirectory({ embedded: data.dir }, uuids, DEVICE, 'Footprint device');
  const main = redis.client(MAIN_DB);
  const auth = redis.client(AUTH_DB);
  const server = await startServerProcess({ DATA_DIR: data.dir, ...redis.env, REDIS_MAIN_DB: String(MAIN_DB), REDIS_AUTH_DB: String(AUTH_DB), LOG_LEVEL: 'info' });
  try {
    const usedMemory = async (): Promise<number> => Number(/used_memory:(\d+)/.exec(await main.info('memory'))?.[1]);
    const usage = async (client: typeof main, key: string): Promise<number> => Number(await client.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
    const before = await usedMemory();
    say(`redis: ${SESSIONS} auths`);
    const pems = await authAll(server, uuids);
    const afterSessions = await usedMemory();
    say(`redis: ${MESSAGES} submits`);
    await sendAll(server, uuids, pems);
    const afterMessages = await usedMemory();
    const sampleKey = `${uuids[0]}${DEVICE}`;
    const messageKeys = (await main.keys('[0-9a-f]'.repeat(64))).slice(0, 50);
    const messageUsage = (await Promise.all(messageKeys.map((key) => usage(main, key)))).reduce((a, b) => a + b, 0) / messageKeys.length;
    const logKey = (await main.keys('*sms-log*entries'))[0];
    const result = {
      used_memory_per_session_bytes: round((afterSessions - before) / SESSIONS),
      used_memory_per_message_bytes: round((afterMessages - afterSessions) / MESSAGES),
      memory_usage_bytes: {
        session_record: await usage(auth, sampleKey),
        session_guard_hash: (await auth.exists(`${sampleKey}#guard`)) ? await usage(auth, `${sampleKey}#guard`) : 0,
        recheck_mark: (await main.exists(`recheck:${sampleKey}`)) ? await usage(main, `recheck:${sampleKey}`) : 0,
        message_record_mean: round(messageUsage),
        log_sorted_set_per_entry: logKey === undefined ? 0 : round((await usage(main, logKey)) / (await main.zcard(logKey))),
      },
      keys: { auth_db: await auth.dbsize(), main_db: await main.dbsize() },
      stored_message_json_bytes_mean: round(
        (await Promise.all(messageKeys.map(async (key) => (await main.get(key))?.length ?? 0))).reduce((a, b) => a + b, 0) / messageKeys.length,
      ),
    };
    return result;
  } finally {
    await server.stop();
    await redis.close();
    data.remove();
  }
}

async function sqliteFootprint() {
  const data = makeDataDir();
  const uuids = Array.from({ length: SESSIONS }, () => randomUUID());
  await seedDirectory({ embedded: data.dir }, uuids, DEVICE, 'Footprint device');
  const server = await startServerProcess({ DATA_DIR: data.dir, LOG_LEVEL: 'info' });
  const file = new Database(join(data.dir, EMBEDDED_DATABASE_FILE), { fileMustExist: true });
  try {
    const usedBytes = (): number => {
      file.pragma('wal_checkpoint(TRUNCATE)');
      const pages = Number(file.pragma('page_count', { simple: true })) - Number(file.pragma('freelist_count', { simple: true }));
      return pages * Number(file.pragma('page_size', { simple: true }));
    };
    const before = usedBytes();
    say(`sqlite: ${SESSIONS} auths`);
    const pems = await authAll(server, uuids);
    const afterSessions = usedBytes();
    say(`sqlite: ${MESSAGES} submits`);
    await sendAll(server, uuids, pems);
    const afterMessages = usedBytes();
    return {
      file_bytes_per_session: round((afterSessions - before) / SESSIONS),
      file_bytes_per_message: round((afterMessages - afterSessions) / MESSAGES),
    };
  } finally {
    file.close();
    await server.stop();
    data.remove();
  }
}

const redis = await redisFootprint();
const sqlite = await sqliteFootprint();
process.stdout.write(`${JSON.stringify({ sessions: SESSIONS, messages: MESSAGES, payload_bytes: PAYLOAD_BYTES, enc: ENC, redis, sqlite })}\n`);
