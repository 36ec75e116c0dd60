/**
 * `npm run bench:growth` (issue 15): how submit throughput, submit latency and the server's
 * resident memory change as the store grows: live sessions (1k, 10k, 100k) and stored messages
 * (0, 100k, 1M), on the embedded store and on Redis + MariaDB. Prints ONE JSON line on stdout;
 * progress goes to stderr. `--write` also writes docs/growth.svg and the figures' table into
 * docs/PERFORMANCE.md (between the growth markers).
 *
 * For each store, in one store that only grows:
 * 1. seed the directory with the measured devices, start the server, authenticate them (real
 *    auths, real RSA keys), stop it;
 * 2. for each point (sessions, messages) in `points`: with the server stopped, seed sessions and
 *    messages up to the point through the server's own store code (growth-seed.ts), record the
 *    store's bytes (SQLite file after a checkpoint; Redis used_memory per database), time the
 *    embedded store's housekeeping purge round on the grown file, then start a fresh server,
 *    warm it up, measure the RSA ceiling right beside the submit phase, submit unique messages
 *    (each with its own wrapped AES key) over HTTP at a fixed concurrency, and read the RSS of
 *    every server process from /proc.
 *
 * Settings: --name=value or BENCH_GROWTH_NAME=value (see SETTINGS). Loopback only; bounded.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { EMBEDDED_DATABASE_FILE } from '../src/backends/sqlite/database.js';
import { expiryPurgeRound } from '../src/backends/sqlite/store.js';
import { encryptEnvelope } from '../test/helpers/encrypt.js';
import { findBinary } from '../test/helpers/real-backends.js';
import { REPO_ROOT } from '../test/helpers/server-process.js';
import { openSeeder, seedKeyPairs } from './growth-seed.js';
import { renderGrowthChart, writeGrowthSection, type GrowthResult, type PointRun } from './growth-report.js';
import { formPost, percentile, runLoad } from './load.js';
import { childrenOf, memoryMb, totalCpuSeconds } from './proc.js';
import { rsaCeiling } from './rsa-ceiling.js';
import { seedDirectory } from './seed-directory.js';
import { jsonPayload, readSettings, round } from './settings.js';
import { spawnServer, warningKinds } from './server-process.js';

const SETTINGS = {
  /** sessions:messages pairs, in growing order (each store only grows). Sessions include the measured ones. */
  points: '1000:0,10000:0,100000:0,100000:100000,100000:1000000',
  stores: 'embedded,redis-mariadb',
  /** Real, authenticated sessions that the measured submits use. */
  measuredSessions: 32,
  warmupMessages: 1000,
  messages: 3000,
  concurrency: 16,
  workers: availableParallelism(),
  ceilingSeconds: 1,
  payloadBytes: 200,
  /** Real key pairs shared by the seeded sessions. */
  seedKeys: 8,
  /** 1: write docs/growth.svg and the docs/PERFORMANCE.md section. */
  write: 0,
  /** Instead of running: JSON result files (comma-separated, later stores win) to write the chart and section from. */
  render: '',
};
type Settings = typeof SETTINGS;

const say = (text: string): void => {
  process.stderr.write(`[growth ${new Date().toISOString().slice(11, 19)}] ${text}\n`);
};
const DEVICE = 'growth-device';

interface RunningServer {
  host: string;
  port: number;
  primary: number;
  workers: number[];
  /** From spawning the server to its `listening` line. */
  startMs: number;
  warnings(): Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

/** The real server (src/main.ts), its JSON log read only for `listening` and warnings. */
async function startServer(env: Record<string, string>, cwd: string, settings: Settings): Promise<RunningServer> {
  const started = performance.now();
  const server = spawnServer(
    {
      WORKERS: String(settings.workers),
      // No background key generation competing with the measured submits: no auth is measured here.
      KEY_POOL_SIZE: '0',
      // No load shedding: on the shared machine a neighbour can stall a worker for a second
      // (one run shed 292 of 3000 submits at the first point), and this bench measures capacity.
      // A stall the server causes itself still shows, in p99.
      MAX_EVENT_LOOP_DELAY_MS: '0',
      ...env,
    },
    cwd,
  );
  const { url, workers, at } = await server.listening;
  return {
    host: url.hostname,
    port: Number(url.port),
    primary: server.child.pid ?? 0,
    workers,
    startMs: at - started,
    warnings: server.warnings,
    stop: server.stop,
  };
}

interface Target {
  name: string;
  env: Record<string, string>;
  dataDir: string;
  seedDirectory(uuids: string[]): Promise<void>;
  /** Bytes the store holds now, for the sessions part and the messages part. */
  bytes(): Promise<{ sessions: number; messages: number; total: number; detail: Record<string, number> }>;
  close(): Promise<void>;
}

function embeddedTarget(): Target {
  const dataDir = mkdtempSync(join(tmpdir(), 'sms-growth-'));
  const file = join(dataDir, EMBEDDED_DATABASE_FILE);
  return {
    name: 'embedded',
    env: { DATA_DIR: dataDir },
    dataDir,
    seedDirectory: (uuids) => seedDirectory({ embedded: dataDir }, uuids, DEVICE, 'Growth device'),
    async bytes() {
      const db = new Database(file);
      try {
        db.pragma('wal_checkpoint(TRUNCATE)');
        const detail: Record<string, number> = {};
        for (const row of db.prepare<[], { name: string; bytes: number }>(`SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name`).all()) {
          detail[row.name] = row.bytes;
        }
        const sum = (names: string[]) => names.reduce((total, name) => total + (detail[name] ?? 0), 0);
        const indexesOf = (table: string) =>
          db.prepare<[string], { name: string }>(`SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = ?`).all(table).map((row) => row.name);
        return {
          sessions: sum(['sessions', ...indexesOf('sessions')]),
          messages: sum(['messages', ...indexesOf('messages'), 'message_log', ...indexesOf('message_log')]),
          total: statSync(file).size,
          detail,
        };
      } finally {
        db.close();
      }
    },
    async close() {
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function redisMariadbTarget(): Promise<Target | string> {
  const missing = ['redis-server', 'mariadbd', 'mariadb-install-db'].filter((binary) => findBinary(binary) === null);
  if (missing.length > 0) return `skipped: ${missing.join(', ')} not installed`;
  const { startRedisServer } = await import('../test/helpers/redis-server.js');
  const { startMariadbServer } = await import('../test/helpers/mariadb-server.js');
  const [redis, mariadb] = await Promise.all([startRedisServer(), startMariadbServer()]);
  const dataDir = mkdtempSync(join(tmpdir(), 'sms-growth-'));
  const env = { ...redis.env, ...mariadb.env, DATA_DIR: dataDir };
  const usedMemory = async (db: number): Promise<number> => {
    const client = new Redis({ host: redis.host, port: redis.port, db, lazyConnect: true });
    await client.connect();
    try {
      // A stable figure: let Redis free lazily dropped objects before reading it.
      return Number(/used_memory:(\d+)/.exec(await client.info('memory'))?.[1]);
    } finally {
      client.disconnect();
    }
  };
  return {
    name: 'redis+mariadb',
    env,
    dataDir,
    seedDirectory: (uuids) => seedDirectory({ mariadb }, uuids, DEVICE, 'Growth device'),
    async bytes() {
      // used_memory is one figure for the whole instance; the two parts are told apart by
      // when they grow (sessions and messages are seeded in separate steps), see measurePoint.
      const total = await usedMemory(0);
      return { sessions: total, messages: total, total, detail: {} };
    },
    async close() {
      await Promise.all([redis.close(), mariadb.close()]);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function parsePoints(text: string): Array<{ sessions: number; messages: number }> {
  const points = text.split(',').map((pair) => {
    const [sessions, messages] = pair.split(':').map(Number);
    if (!Number.isInteger(sessions) || !Number.isInteger(messages)) throw new Error(`--points: "${pair}" is not sessions:messages`);
    return { sessions: sessions as number, messages: messages as number };
  });
  for (let i = 1; i < points.length; i++) {
    if (points[i]!.sessions < points[i - 1]!.sessions || points[i]!.messages < points[i - 1]!.messages) {
      throw new Error('--points must grow: each store only grows');
    }
  }
  return points;
}

interface Grown {
  sessions: number;
  messages: number;
  /** Bytes measured right after each seeding step, for the per-row figures. */
  steps: Array<{ kind: 'sessions' | 'messages'; rows: number; before: number; after: number }>;
}

async function benchStore(target: Target, settings: Settings, points: Array<{ sessions: number; messages: number }>): Promise<{
  points: PointRun[];
  bytes: { per_session: number | undefined; per_message: number | undefined; how: string; detail: Record<string, number> };
}> {
  const measured = Array.from({ length: settings.measuredSessions }, () => randomUUID());
  say(`${target.name}: directory: ${measured.length} measured devices`);
  await target.seedDirectory(measured);

  say(`${target.name}: authenticating the measured sessions (real auths, keys generated on demand)`);
  const first = await startServer(target.env, target.dataDir, settings);
  const authRequests = measured.map((uuid) => formPost(first.host, first.port, '/api', { key: `${uuid}${DEVICE}`, status: 'on' }));
  const auth = await runLoad({ host: first.host, port: first.port, requests: authRequests, concurrency: 4, keepBodies: true });
  await first.stop();
  const live = measured
    .map((uuid, i) => {
      try {
        return { key: `${uuid}${DEVICE}`, pem: String((JSON.parse(auth.bodies[i] ?? '') as { message: unknown }).message) };
      } catch {
        return { key: '', pem: '' };
      }
    })
    .filter((session) => session.pem.startsWith('-----BEGIN PUBLIC KEY-----'));
  if (live.length !== measured.length) throw new Error(`${target.name}: only ${live.length} of ${measured.length} auths succeeded`);

  say(`${target.name}: ${settings.seedKeys} real key pairs for the seeded sessions`);
  const keys = seedKeyPairs(settings.seedKeys).map((pair) => pair.privateKey);
  const grown: Grown = { sessions: 0, messages: 0, steps: [] };
  let measuredMessages = 0;
  const runs: PointRun[] = [];
  let detail: Record<string, number> = {};

  for (const point of points) {
    const label = `${target.name} ${point.sessions} sessions / ${point.messages} messages`;
    // Seeding, with the server stopped: through the server's own store code.
    const seedSessionsTo = Math.max(0, point.sessions - live.length);
    const seedMessagesTo = Math.max(0, point.messages - measuredMessages);
    if (seedSessionsTo > grown.sessions || seedMessagesTo > grown.messages) {
      const seeder = await openSeeder(target.env);
      try {
        if (seedSessionsTo > grown.sessions) {
          const before = (await target.bytes()).sessions;
          const t = performance.now();
          await seeder.sessions(grown.sessions, seedSessionsTo, keys);
          say(`${label}: seeded ${seedSessionsTo - grown.sessions} sessions in ${round((performance.now() - t) / 1000)} s`);
          grown.steps.push({ kind: 'sessions', rows: seedSessionsTo - grown.sessions, before, after: (await target.bytes()).sessions });
          grown.sessions = seedSessionsTo;
        }
        if (seedMessagesTo > grown.messages) {
          const before = (await target.bytes()).messages;
          const t = performance.now();
          await seeder.messages(grown.messages, seedMessagesTo, Math.max(1, grown.sessions), settings.payloadBytes);
          say(`${label}: seeded ${seedMessagesTo - grown.messages} messages in ${round((performance.now() - t) / 1000)} s`);
          grown.steps.push({ kind: 'messages', rows: seedMessagesTo - grown.messages, before, after: (await target.bytes()).messages });
          grown.messages = seedMessagesTo;
        }
      } finally {
        await seeder.close();
      }
    }
    const bytes = await target.bytes();
    detail = bytes.detail;

    // The embedded store's housekeeping round (every PURGE_INTERVAL_MS in each process, holding
    // the write lock): timed here on the grown file, since a 10 s measurement rarely meets one.
    let purgeMs: number | undefined;
    if (target.name === 'embedded') {
      const db = new Database(join(target.dataDir, EMBEDDED_DATABASE_FILE));
      try {
        const round_ = expiryPurgeRound(db);
        const t = performance.now();
        db.transaction(() => round_(Date.now())).immediate();
        purgeMs = performance.now() - t;
      } finally {
        db.close();
      }
    }

    const total = settings.warmupMessages + settings.messages;
    const envelopes = Array.from({ length: total }, (_, i) => {
      const session = live[i % live.length]!;
      return { key: session.key, message: encryptEnvelope(session.pem, jsonPayload(measuredMessages + i, settings.payloadBytes)) };
    });

    const server = await startServer(target.env, target.dataDir, settings);
    try {
      const bodies = envelopes.map((fields) => formPost(server.host, server.port, '/api', fields));
      const delivered = (status: number, body: string) => status === 200 && body.includes('"message":"delivered"');
      const warm = await runLoad({ host: server.host, port: server.port, requests: bodies.slice(0, settings.warmupMessages), concurrency: settings.concurrency });
      const warmErrors = Array.from(warm.status).filter((status) => status !== 200).length;
      const rsaBefore = (await rsaCeiling(availableParallelism(), settings.ceilingSeconds * 1000)).perSecond;
      const load = loadavg()[0] ?? 0;
      const cpuBefore = totalCpuSeconds(server.workers);
      const result = await runLoad({
        host: server.host,
        port: server.port,
        requests: bodies.slice(settings.warmupMessages),
        concurrency: settings.concurrency,
        keepBodies: true,
      });
      const cpuUsed = totalCpuSeconds(server.workers) - cpuBefore;
      // The ceiling on both sides of the submits, averaged: the shared machine's speed drifts within seconds.
      const rsaAfter = (await rsaCeiling(availableParallelism(), settings.ceilingSeconds * 1000)).perSecond;
      const rsa = (rsaBefore + rsaAfter) / 2;
      let errors = result.transportErrors + warmErrors;
      for (let i = 0; i < result.status.length; i++) if (!delivered(result.status[i] as number, result.bodies[i] ?? '')) errors += 1;
      const processes = [
        ...(server.workers.includes(server.primary) ? [] : [{ role: 'primary', pid: server.primary }]),
        ...server.workers.map((pid) => ({ role: 'worker', pid })),
        ...server.workers.flatMap((pid) => childrenOf(pid).map((child) => ({ role: 'helper', pid: child }))),
      ];
      const rss = processes.map(({ role, pid }) => ({ role, rss_mb: memoryMb(pid, 'VmRSS'), peak_mb: memoryMb(pid, 'VmHWM') }));
      const run: PointRun = {
        store: target.name,
        sessions: grown.sessions + live.length,
        messages: grown.messages + measuredMessages,
        server_start_ms: round(server.startMs),
        submits_per_s: round(result.completed / (result.elapsedMs / 1000)),
        p50_ms: round(percentile(result.latencyMs, 50), 2),
        p99_ms: round(percentile(result.latencyMs, 99), 2),
        rsa_ceiling_per_s: round(rsa),
        rsa_ceiling_before_after: [round(rsaBefore), round(rsaAfter)],
        ratio_to_rsa: round(result.completed / (result.elapsedMs / 1000) / rsa, 3),
        server_cpu_ms_per_submit: round((cpuUsed / result.completed) * 1000, 3),
        errors,
        rss,
        max_rss_mb: Math.max(...rss.map((p) => p.peak_mb ?? 0)),
        store_bytes: bytes.total,
        ...(purgeMs === undefined ? {} : { purge_round_ms: round(purgeMs, 2) }),
        load_average_1m: round(load, 2),
        warnings: warningKinds(server.warnings()),
      };
      runs.push(run);
      say(
        `${label}: ${run.submits_per_s}/s (ratio ${run.ratio_to_rsa} to RSA ${run.rsa_ceiling_per_s}/s), p50 ${run.p50_ms} ms p99 ${run.p99_ms} ms, ` +
          `cpu ${run.server_cpu_ms_per_submit} ms/submit, start ${run.server_start_ms} ms, max RSS ${run.max_rss_mb} MB` +
          `${purgeMs === undefined ? '' : `, purge round ${round(purgeMs, 1)} ms`}, ${errors} errors, load ${run.load_average_1m}`,
      );
      // Each point as it is measured, so a run that fails later still leaves its figures.
      say(`point ${JSON.stringify(run)}`);
      if (Object.keys(run.warnings).length > 0) say(`${label}: warnings: ${JSON.stringify(run.warnings)}`);
    } finally {
      await server.stop();
    }
    measuredMessages += total;
  }

  const perRow = (kind: 'sessions' | 'messages'): number | undefined => {
    // The biggest step of that kind: the fixed costs of a table are then negligible.
    const step = grown.steps.filter((s) => s.kind === kind).sort((a, b) => b.rows - a.rows)[0];
    return step === undefined ? undefined : round((step.after - step.before) / step.rows, 0);
  };
  return {
    points: runs,
    bytes: {
      per_session: perRow('sessions'),
      per_message: perRow('messages'),
      how:
        target.name === 'embedded'
          ? 'SQLite pages (dbstat) of the table and its indexes (sessions; messages + message_log), after a TRUNCATE checkpoint, over the biggest seeding step'
          : 'Redis INFO used_memory delta over the biggest seeding step (sessions: the record key; messages: the record key + its {sms-log}:entries member)',
      detail,
    },
  };
}

function writeDocs(result: GrowthResult): void {
  writeFileSync(join(REPO_ROOT, 'docs/growth.svg'), renderGrowthChart(result));
  writeGrowthSection(join(REPO_ROOT, 'docs/PERFORMANCE.md'), result);
  say('wrote docs/growth.svg and the growth section of docs/PERFORMANCE.md');
}

async function main(): Promise<void> {
  const settings = readSettings(SETTINGS, 'BENCH_GROWTH');
  if (settings.render !== '') {
    const results = settings.render.split(',').map((file) => JSON.parse(readFileSync(file, 'utf8')) as GrowthResult);
    const merged = results.reduce((all, next) => ({
      ...next,
      // Which store came from which run: both are named in the section's first line.
      command: `${all.command}\` (${all.at.slice(0, 16)} UTC: ${Object.keys(all.stores).filter((name) => !(name in next.stores)).join(', ') || 'nothing kept'}), then \`${next.command}`,
      seconds: all.seconds + next.seconds,
      stores: { ...all.stores, ...next.stores },
      skipped: {},
    }));
    writeDocs(merged);
    return;
  }
  const points = parsePoints(settings.points);
  const started = Date.now();
  say(`settings ${JSON.stringify(settings)}`);
  const result: GrowthResult = {
    bench: 'secure-message-server growth',
    at: new Date().toISOString(),
    command: `npm run bench:growth -- ${process.argv.slice(2).join(' ')}`.trim(),
    machine: { cpus: availableParallelism(), model: cpus()[0]?.model ?? 'unknown', node: process.version },
    settings,
    stores: {},
    skipped: {},
    seconds: 0,
  };
  for (const store of settings.stores.split(',').map((s) => s.trim()).filter(Boolean)) {
    const target = store === 'embedded' ? embeddedTarget() : store === 'redis-mariadb' ? await redisMariadbTarget() : `unknown store "${store}"`;
    if (typeof target === 'string') {
      result.skipped[store] = target;
      say(`${store}: ${target}`);
      continue;
    }
    try {
      result.stores[target.name] = await benchStore(target, settings, points);
    } finally {
      await target.close();
    }
  }
  result.seconds = round((Date.now() - started) / 1000);
  if (settings.write === 1) writeDocs(result);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

await main();
// The real-backend helpers hold exit hooks and sockets; the result is out, so leave.
process.exit(0);
