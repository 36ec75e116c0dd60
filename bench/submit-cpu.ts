/**
 * Issue 15: server CPU per submit measured in ONE process, next to the CPU of one RSA-OAEP
 * decryption measured in the same process at the same time, so that two versions can be compared
 * on a machine shared with other work (where `npm run bench`'s per-process CPU figures moved by 3x
 * from run to run with the load). The requests go through the whole Fastify app with `inject`
 * (no sockets: the light-my-request overhead is in both versions alike), the real store
 * (embedded SQLite with its group commit and WAL sync, or Redis + MariaDB), the real logger
 * writing every request line to /dev/null, the default settings (failure budget, recheck,
 * INVALID_ENVELOPE_LIMIT, AES-CBC replay guard).
 *
 *   node --import tsx bench/submit-cpu.ts [--store=embedded|redis-mariadb] [--messages=3000] [--rounds=3]
 *
 * Prints one JSON line: per round, CPU ms per unique-key submit (AES-CBC, a new wrapped key each),
 * per reused-key submit (AES-GCM, one wrapped key per session), and per RSA decryption.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { readConfig } from '../src/config/config.js';
import { createLogger } from '../src/logger.js';
import { startServer } from '../src/server.js';
import { encryptEnvelope } from '../test/helpers/encrypt.js';
import { rsaCpuMsPerDecrypt } from './rsa-ceiling.js';
import { seedDirectory } from './seed-directory.js';

const arg = (name: string, fallback: string): string =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const store = arg('store', 'embedded');
const messages = Number(arg('messages', '3000'));
const rounds = Number(arg('rounds', '3'));
const sessionsCount = Number(arg('sessions', '20'));
const concurrency = 16;
const DEVICE = 'cpu-device';

const cleanups: Array<() => Promise<void>> = [];
const dataDir = mkdtempSync(join(tmpdir(), 'sms-submit-cpu-'));
cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
const uuids = Array.from({ length: sessionsCount }, () => randomUUID());
let env: Record<string, string> = { DATA_DIR: dataDir };
if (store === 'embedded') {
  await seedDirectory({ embedded: dataDir }, uuids, DEVICE, 'CPU device');
} else {
  const { startRedisServer } = await import('../test/helpers/redis-server.js');
  const { startMariadbServer } = await import('../test/helpers/mariadb-server.js');
  const [redis, mariadb] = await Promise.all([startRedisServer(), startMariadbServer()]);
  cleanups.push(() => redis.close(), () => mariadb.close());
  env = { ...env, ...redis.env, ...mariadb.env };
  await seedDirectory({ mariadb }, uuids, DEVICE, 'CPU device');
}

// No load shedding: on a machine this shared the event loop lags past its default second, and a shed request is not a submit.
const config = readConfig({ ...env, HOST: '127.0.0.1', PORT: '0', WORKERS: '1', KEY_POOL_SIZE: '0', LOG_LEVEL: 'info', MAX_EVENT_LOOP_DELAY_MS: '0' });
const server = await startServer(config, createLogger('info', pino.destination({ dest: '/dev/null', sync: true })));
const form = (fields: Record<string, string>) => ({
  method: 'POST' as const,
  url: '/api',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  payload: new URLSearchParams(fields).toString(),
});

const live: Array<{ key: string; pem: string }> = [];
for (const uuid of uuids) {
  const key = `${uuid}${DEVICE}`;
  const reply = await server.app.inject(form({ key, status: 'on' }));
  live.push({ key, pem: String((JSON.parse(reply.body) as { message: string }).message) });
}

let sequence = 0;
function payloadText(): string {
  return JSON.stringify({ n: sequence++, sent: new Date().toISOString(), text: 'x'.repeat(120) });
}

/** Runs the requests at `concurrency` and returns CPU ms per request (this whole process), checking every answer. */
async function cpuPerRequest(bodies: Array<ReturnType<typeof form>>): Promise<number> {
  let next = 0;
  let bad = 0;
  let firstBad = '';
  const before = process.cpuUsage();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < bodies.length) {
        const reply = await server.app.inject(bodies[next++]!);
        if (!reply.body.includes('"message":"delivered"')) {
          bad++;
          firstBad ||= `${reply.statusCode} ${reply.body.slice(0, 120)}`;
        }
      }
    }),
  );
  const used = process.cpuUsage(before);
  if (bad > 0) throw new Error(`${bad} answers other than delivered, the first: ${firstBad}`);
  return (used.user + used.system) / 1000 / bodies.length;
}

const results: Array<Record<string, number>> = [];
// One warm-up round first, not reported: JIT and caches.
for (let round = 0; round <= rounds; round++) {
  const unique = Array.from({ length: messages }, (_, n) => {
    const session = live[n % live.length]!;
    return form({ key: session.key, message: encryptEnvelope(session.pem, payloadText()) });
  });
  const reuse = live.map((session) => {
    const aesKey = randomBytes(32);
    const first = JSON.parse(encryptEnvelope(session.pem, 'wrap', { aesKey, enc: 'AES-GCM' })) as { encryptedKey: string };
    return { ...session, aesKey, encryptedKey: first.encryptedKey };
  });
  const reused = Array.from({ length: messages }, (_, n) => {
    const session = reuse[n % reuse.length]!;
    const envelope = JSON.parse(encryptEnvelope(session.pem, payloadText(), { aesKey: session.aesKey, enc: 'AES-GCM' })) as object;
    return form({ key: session.key, message: JSON.stringify({ ...envelope, encryptedKey: session.encryptedKey }) });
  });
  const rsaBefore = rsaCpuMsPerDecrypt(300);
  const uniqueMs = await cpuPerRequest(unique);
  const reusedMs = await cpuPerRequest(reused);
  const rsaAfter = rsaCpuMsPerDecrypt(300);
  const rsaMs = (rsaBefore + rsaAfter) / 2;
  if (round === 0) continue;
  const r = (n: number, d = 3) => Math.round(n * 10 ** d) / 10 ** d;
  results.push({
    unique_cpu_ms: r(uniqueMs),
    reused_cpu_ms: r(reusedMs),
    rsa_cpu_ms: r(rsaMs),
    unique_in_rsa: r(uniqueMs / rsaMs, 2),
    reused_in_rsa: r(reusedMs / rsaMs, 2),
  });
  process.stderr.write(`[submit-cpu] ${store} round ${round}: ${JSON.stringify(results.at(-1))}\n`);
}
await server.stop();
for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
process.stdout.write(`${JSON.stringify({ store, messages, sessions: sessionsCount, at: new Date().toISOString(), rounds: results })}\n`);
process.exit(0);
