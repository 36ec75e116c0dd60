/**
 * `npm run bench` (issue 5): the server under load on this machine, next to the two ceilings
 * measured in the same run. Prints ONE JSON line on stdout; progress goes to stderr.
 *
 * 1. Ceiling: node:crypto RSA-OAEP private decryptions/s on every core, key already parsed.
 * 2. For each store (embedded SQLite; Redis + MariaDB when their binaries are installed):
 *    seed the directory, start the server (WORKERS processes), wait for the key pools to fill,
 *    authenticate SESSIONS devices, pre-encrypt unique messages, then submit them at a fixed
 *    concurrency: first each with its own wrapped AES key (one RSA operation each), then a set
 *    that reuses one wrapped key per session (the cache path). Ceiling 1 is measured again right
 *    before the submit phase, and the ratio uses that figure: the shared machine's speed drifts.
 * 3. Ceiling: a bare Fastify endpoint parsing the same form bodies, same number of processes.
 *
 * Settings: --name=value or BENCH_NAME=value (see SETTINGS below). Loopback only; bounded.
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { encryptEnvelope } from '../test/helpers/encrypt.js';
import { findBinary } from '../test/helpers/real-backends.js';
import { REPO_ROOT, TSX } from '../test/helpers/server-process.js';
import { formPost, percentile, runLoad, type LoadResult } from './load.js';
import { benchColdStart, COLD_START_DEFAULTS, type ColdStartResult } from './cold-start.js';
import { childrenOf, memoryMb, totalCpuSeconds } from './proc.js';
import { rsaCeiling, rsaCpuMsPerDecrypt } from './rsa-ceiling.js';
import { seedDirectory } from './seed-directory.js';
import { jsonPayload, readSettings, round } from './settings.js';
import { spawnServer, until, warningKinds, type BenchServer } from './server-process.js';

const SETTINGS = {
  sessions: 80,
  messages: 8000,
  reusedMessages: 4000,
  concurrency: 16,
  authConcurrency: 4,
  /** Auths (each then logged out) before the measured ones, so the first measured auths do not pay for JIT warm-up. */
  warmupAuths: 64,
  workers: availableParallelism(),
  ceilingSeconds: 2,
  bareSeconds: 4,
  poolWaitSeconds: 60,
  payloadBytes: 200,
  /** Content encryption of the reused-key phase: AES-GCM, as the client library's key reuse sends (it never reuses a CBC key). */
  reusedEnc: 'AES-GCM',
  /**
   * "embedded", "redis-mariadb", "redis-cluster" (a 3-primary / 3-replica Redis Cluster + MariaDB),
   * comma-separated; a store whose binaries are missing is skipped.
   */
  stores: 'embedded,redis-mariadb,redis-cluster',
  /** When set: the server runs with --cpu-prof and writes its profiles here. */
  profileDir: '',
  /** Issue 15, bench/cold-start.ts: auths in the burst after a restart with a filled pool (0 = no such phase), and how many at once. */
  ...COLD_START_DEFAULTS,
};
type Settings = typeof SETTINGS;

const say = (text: string): void => {
  process.stderr.write(`[bench] ${text}\n`);
};
const DEVICE = 'bench-device';

interface Phase {
  count: number;
  per_s: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  errors: number;
  /** Answers other than the expected one, by "status message". */
  error_kinds?: Record<string, number>;
}

function summarise(result: LoadResult, expected: (status: number, body: string) => boolean, bodies: string[] | undefined): Phase {
  let errors = 0;
  const kinds: Record<string, number> = {};
  for (let i = 0; i < result.status.length; i++) {
    const status = result.status[i] as number;
    const body = bodies?.[i] ?? '';
    if (!expected(status, body)) {
      errors += 1;
      const kind = `${status} ${body.slice(0, 60)}`;
      kinds[kind] = (kinds[kind] ?? 0) + 1;
    }
  }
  return {
    count: result.status.length,
    per_s: round(result.completed / (result.elapsedMs / 1000)),
    p50_ms: round(percentile(result.latencyMs, 50), 2),
    p99_ms: round(percentile(result.latencyMs, 99), 2),
    max_ms: round(percentile(result.latencyMs, 100), 2),
    errors: errors + result.transportErrors,
    ...(errors > 0 ? { error_kinds: kinds } : {}),
  };
}


interface ServerUnderTest extends BenchServer {
  url: URL;
  primary: number;
  workers: number[];
}

async function startServer(env: Record<string, string>, cwd: string, settings: Settings, poolSize: number): Promise<ServerUnderTest> {
  const nodeArgs = settings.profileDir === '' ? [] : ['--cpu-prof', `--cpu-prof-dir=${settings.profileDir}`];
  const server = spawnServer(
    {
      WORKERS: String(settings.workers),
      KEY_POOL_SIZE: String(poolSize),
      // Passed on so a run can measure the server with keys wrapped at rest (issue 10, docs/PERFORMANCE.md).
      ...(process.env.KEY_ENCRYPTION_KEY === undefined ? {} : { KEY_ENCRYPTION_KEY: process.env.KEY_ENCRYPTION_KEY }),
      ...env,
    },
    cwd,
    { nodeArgs },
  );
  const { url, workers } = await server.listening;
  return { ...server, url, primary: server.child.pid ?? 0, workers };
}

interface StoreTarget {
  name: string;
  env: Record<string, string>;
  dataDir: string;
  seed(uuids: string[]): Promise<void>;
  close(): Promise<void>;
}

function embeddedTarget(): StoreTarget {
  const dataDir = mkdtempSync(join(tmpdir(), 'sms-bench-'));
  return {
    name: 'embedded',
    env: { DATA_DIR: dataDir },
    dataDir,
    seed: (uuids) => seedDirectory({ embedded: dataDir }, uuids, DEVICE, 'Bench device'),
    async close() {
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The store a Redis target runs on: one redis-server, or (SPEC §13) a 3-primary / 3-replica cluster. */
interface RedisUnderTest {
  env: Record<string, string>;
  close(): Promise<void>;
}

async function startRedisUnderTest(kind: 'single' | 'cluster'): Promise<RedisUnderTest> {
  if (kind === 'single') return (await import('../test/helpers/redis-server.js')).startRedisServer();
  // The cluster engineer's harness (test/helpers/redis-cluster.ts): six redis-servers on loopback ports.
  return (await import('../test/helpers/redis-cluster.js')).startRedisCluster();
}

async function redisMariadbTarget(kind: 'single' | 'cluster' = 'single'): Promise<StoreTarget | string> {
  const missing = ['redis-server', 'mariadbd', 'mariadb-install-db', ...(kind === 'cluster' ? ['redis-cli'] : [])].filter((binary) => findBinary(binary) === null);
  if (missing.length > 0) return `skipped: ${missing.join(', ')} not installed`;
  const { startMariadbServer } = await import('../test/helpers/mariadb-server.js');
  const [redis, mariadb] = await Promise.all([startRedisUnderTest(kind), startMariadbServer()]);
  const dataDir = mkdtempSync(join(tmpdir(), 'sms-bench-'));
  return {
    name: kind === 'cluster' ? 'redis-cluster+mariadb' : 'redis+mariadb',
    env: { ...redis.env, ...mariadb.env, DATA_DIR: dataDir },
    dataDir,
    // Seeded twice (the cold-start phase, bench/cold-start.ts, adds its own users): the user ids go on counting.
    seed: (uuids) => seedDirectory({ mariadb }, uuids, DEVICE, 'Bench device'),
    async close() {
      await Promise.all([redis.close(), mariadb.close()]);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

interface StoreRun {
  store: string;
  /** Ceiling 1 measured again right before this store's submit phase: the machine is shared and its speed drifts. */
  rsa_oaep_decrypts_per_s_adjacent: number;
  key_pool_ready: boolean;
  key_pool_drained_during_auth: boolean;
  auth: Phase;
  submit: Phase;
  submit_reused_key: Phase;
  errors: number;
  /** Server CPU seconds per 1000 submits in the unique-key phase, all worker processes together. */
  server_cpu_s_per_1000_submits: number;
  /** The same over the reused-key phase (one wrapped AES key per session: the key cache spares the RSA step). */
  server_cpu_s_per_1000_reused_submits: number;
  /** CPU ms of one RSA-OAEP decryption in this process next to the submit phase, and the two figures above in those units. */
  rsa_cpu_ms_per_decrypt_adjacent: number;
  submit_cpu_in_rsa_decrypts: number;
  reused_submit_cpu_in_rsa_decrypts: number;
  /** The same over the auth phase (the workers; not the key generator helpers, which are processes of their own). */
  server_cpu_s_per_1000_auths: number;
  /** The same for this process, which generates the load on the same cores. */
  load_generator_cpu_s_per_1000_submits: number;
  warnings: number;
  warning_kinds: Record<string, number>;
  peak_rss_mb: { primary: number | undefined; workers: Array<number | undefined>; keygen: Array<number | undefined> };
}

async function benchStore(target: StoreTarget, settings: Settings): Promise<{ run: StoreRun; submitBodies: Buffer[] }> {
  const uuids = Array.from({ length: settings.sessions }, () => randomUUID());
  const warmupUuids = Array.from({ length: settings.warmupAuths }, () => randomUUID());
  say(`${target.name}: seeding ${uuids.length} users (+${warmupUuids.length} for the warm-up)`);
  await target.seed([...uuids, ...warmupUuids]);

  // Issue 15: one pool shared by every worker, with enough keys for every auth of this phase.
  const poolSize = settings.sessions + settings.warmupAuths + 16;
  say(`${target.name}: starting the server (WORKERS=${settings.workers}, KEY_POOL_SIZE=${poolSize})`);
  const server = await startServer(target.env, target.dataDir, settings, poolSize);
  try {
    const { hostname, port: portText } = server.url;
    const port = Number(portText);
    const ready = () => server.events.filter((event) => event.msg === 'key pool ready').length >= server.workers.length;
    const poolReady = await until(ready, settings.poolWaitSeconds * 1000);
    say(`${target.name}: key pools ${poolReady ? 'full' : 'NOT full after the wait; auth will partly generate on demand'}`);

    if (warmupUuids.length > 0) {
      for (const status of ['on', 'off']) {
        const requests = warmupUuids.map((uuid) => formPost(hostname, port, '/api', { key: `${uuid}${DEVICE}`, status }));
        await runLoad({ host: hostname, port, requests, concurrency: settings.authConcurrency, keepBodies: false });
      }
      say(`${target.name}: warm-up: ${warmupUuids.length} auths and logouts, not measured`);
    }
    const authRequests = uuids.map((uuid) => formPost(hostname, port, '/api', { key: `${uuid}${DEVICE}`, status: 'on' }));
    const drainsBefore = server.warnings().filter((event) => String(event.msg).startsWith('key pool empty')).length;
    const authCpuBefore = totalCpuSeconds(server.workers);
    const authResult = await runLoad({ host: hostname, port, requests: authRequests, concurrency: settings.authConcurrency, keepBodies: true });
    const drained = server.warnings().filter((event) => String(event.msg).startsWith('key pool empty')).length > drainsBefore;
    const authCpuUsed = totalCpuSeconds(server.workers) - authCpuBefore;
    const auth = summarise(authResult, (status, body) => status === 200 && body.includes('"code":0'), authResult.bodies);
    const pems = authResult.bodies.map((body) => {
      try {
        return String((JSON.parse(body) as { message: unknown }).message);
      } catch {
        return '';
      }
    });
    say(`${target.name}: auth ${auth.per_s}/s p50 ${auth.p50_ms} ms p99 ${auth.p99_ms} ms, ${auth.errors} errors`);

    say(`${target.name}: pre-encrypting ${settings.messages} + ${settings.reusedMessages} messages`);
    const live = uuids.map((uuid, i) => ({ key: `${uuid}${DEVICE}`, pem: pems[i] ?? '' })).filter((s) => s.pem.startsWith('-----BEGIN PUBLIC KEY-----'));
    if (live.length === 0) throw new Error('no session was created');
    const submitBodies = Array.from({ length: settings.messages }, (_, n) => {
      const session = live[n % live.length]!;
      return formPost(hostname, port, '/api', { key: session.key, message: encryptEnvelope(session.pem, jsonPayload(n, settings.payloadBytes)) });
    });
    const reusedEnc = settings.reusedEnc === 'AES-CBC' ? 'AES-CBC' : 'AES-GCM';
    const reuse = live.map((session) => {
      const aesKey = randomBytes(32);
      const first = JSON.parse(encryptEnvelope(session.pem, 'wrap', { aesKey, enc: reusedEnc })) as { encryptedKey: string };
      return { ...session, aesKey, encryptedKey: first.encryptedKey };
    });
    const reusedBodies = Array.from({ length: settings.reusedMessages }, (_, n) => {
      const session = reuse[n % reuse.length]!;
      const envelope = JSON.parse(
        encryptEnvelope(session.pem, jsonPayload(settings.messages + n, settings.payloadBytes), { aesKey: session.aesKey, enc: reusedEnc }),
      ) as object;
      return formPost(hostname, port, '/api', { key: session.key, message: JSON.stringify({ ...envelope, encryptedKey: session.encryptedKey }) });
    });

    say(`${target.name}: ceiling 1 again, next to the submit phase`);
    const rsaAdjacent = (await rsaCeiling(availableParallelism(), settings.ceilingSeconds * 1000)).perSecond;
    say(`${target.name}: ceiling 1: ${round(rsaAdjacent)}/s`);
    const rsaCpuMs = rsaCpuMsPerDecrypt();
    say(`${target.name}: one RSA-OAEP decryption: ${round(rsaCpuMs, 3)} ms of CPU`);

    const delivered = (status: number, body: string) => status === 200 && body.includes('"message":"delivered"');
    say(`${target.name}: submitting ${submitBodies.length} messages, each with its own wrapped key, at concurrency ${settings.concurrency}`);
    const cpuBefore = totalCpuSeconds(server.workers);
    const loadCpuBefore = process.cpuUsage();
    const submitResult = await runLoad({ host: hostname, port, requests: submitBodies, concurrency: settings.concurrency, keepBodies: true });
    const cpuUsed = totalCpuSeconds(server.workers) - cpuBefore;
    const loadCpu = process.cpuUsage(loadCpuBefore);
    const loadCpuUsed = (loadCpu.user + loadCpu.system) / 1e6;
    const submit = summarise(submitResult, delivered, submitResult.bodies);
    say(`${target.name}: submit ${submit.per_s}/s p50 ${submit.p50_ms} ms p99 ${submit.p99_ms} ms, ${submit.errors} errors`);

    say(`${target.name}: submitting ${reusedBodies.length} messages reusing one wrapped key per session`);
    const reusedCpuBefore = totalCpuSeconds(server.workers);
    const reusedResult = await runLoad({ host: hostname, port, requests: reusedBodies, concurrency: settings.concurrency, keepBodies: true });
    const reusedCpuUsed = totalCpuSeconds(server.workers) - reusedCpuBefore;
    const reused = summarise(reusedResult, delivered, reusedResult.bodies);
    say(`${target.name}: submit (reused key) ${reused.per_s}/s p50 ${reused.p50_ms} ms p99 ${reused.p99_ms} ms, ${reused.errors} errors`);

    const keygen = server.workers.flatMap((pid) => childrenOf(pid));
    const peak = {
      primary: server.workers.includes(server.primary) ? undefined : memoryMb(server.primary, 'VmHWM'),
      workers: server.workers.map((pid) => memoryMb(pid, 'VmHWM')),
      keygen: keygen.map((pid) => memoryMb(pid, 'VmHWM')),
    };
    return {
      run: {
        store: target.name,
        rsa_oaep_decrypts_per_s_adjacent: round(rsaAdjacent),
        key_pool_ready: poolReady,
        key_pool_drained_during_auth: drained,
        auth,
        submit,
        submit_reused_key: reused,
        errors: auth.errors + submit.errors + reused.errors,
        server_cpu_s_per_1000_submits: round((cpuUsed / submit.count) * 1000, 3),
        server_cpu_s_per_1000_auths: round((authCpuUsed / auth.count) * 1000, 3),
        server_cpu_s_per_1000_reused_submits: round((reusedCpuUsed / Math.max(1, reused.count)) * 1000, 3),
        rsa_cpu_ms_per_decrypt_adjacent: round(rsaCpuMs, 3),
        submit_cpu_in_rsa_decrypts: round(cpuUsed / submit.count / (rsaCpuMs / 1000), 2),
        reused_submit_cpu_in_rsa_decrypts: round(reusedCpuUsed / Math.max(1, reused.count) / (rsaCpuMs / 1000), 2),
        load_generator_cpu_s_per_1000_submits: round((loadCpuUsed / submit.count) * 1000, 3),
        warnings: server.warnings().length,
        warning_kinds: warningKinds(server.warnings()),
        peak_rss_mb: peak,
      },
      submitBodies,
    };
  } finally {
    await server.stop();
  }
}

async function bareCeiling(settings: Settings, bodies: Buffer[]): Promise<number> {
  const child = spawn(process.execPath, ['--import', TSX, join(REPO_ROOT, 'bench/bare-server.ts')], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH, WORKERS: String(settings.workers) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const url = await new Promise<URL>((resolve, reject) => {
      let text = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        const line = text.split('\n').find((l) => l.startsWith('{'));
        if (line !== undefined) resolve(new URL((JSON.parse(line) as { url: string }).url));
      });
      child.once('exit', (code) => reject(new Error(`bare server exited (${code})`)));
    });
    // The same bytes as the submit phase, re-addressed to this port.
    const port = Number(url.port);
    const requests = bodies.map((body) => {
      const text = body.toString('latin1');
      return Buffer.from(text.replace(/^Host: [^\r]*/m, `Host: ${url.hostname}:${port}`), 'latin1');
    });
    await runLoad({ host: url.hostname, port, requests: requests.slice(0, 2000), concurrency: settings.concurrency }); // warm-up
    const result = await runLoad({ host: url.hostname, port, requests, concurrency: settings.concurrency, durationMs: settings.bareSeconds * 1000 });
    const bad = Array.from(result.status).filter((status) => status !== 200).length;
    if (bad > 0) say(`bare endpoint: ${bad} answers other than 200`);
    return result.completed / (result.elapsedMs / 1000);
  } finally {
    await new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }
}

async function main(): Promise<void> {
  const settings = readSettings(SETTINGS, 'BENCH');
  const started = Date.now();
  say(`settings ${JSON.stringify(settings)}`);

  say(`ceiling 1: RSA-OAEP decryptions on ${availableParallelism()} threads for ${settings.ceilingSeconds} s`);
  const rsa = await rsaCeiling(availableParallelism(), settings.ceilingSeconds * 1000);
  say(`ceiling 1: ${round(rsa.perSecond)}/s`);

  const runs: StoreRun[] = [];
  const skipped: Record<string, string> = {};
  const coldStarts: Record<string, ColdStartResult> = {};
  let bare: number | undefined;
  for (const store of settings.stores.split(',').map((s) => s.trim()).filter(Boolean)) {
    const target =
      store === 'embedded'
        ? embeddedTarget()
        : store === 'redis-mariadb'
          ? await redisMariadbTarget()
          : store === 'redis-cluster'
            ? await redisMariadbTarget('cluster')
            : `unknown store "${store}"`;
    if (typeof target === 'string') {
      skipped[store] = target;
      say(`${store}: ${target}`);
      continue;
    }
    try {
      const { run, submitBodies } = await benchStore(target, settings);
      runs.push(run);
      if (settings.coldStartAuths > 0) coldStarts[target.name] = await benchColdStart(target, settings, say);
      if (bare === undefined) {
        say(`ceiling 2: bare Fastify form endpoint, ${settings.workers} processes, ${settings.bareSeconds} s`);
        bare = await bareCeiling(settings, submitBodies);
        say(`ceiling 2: ${round(bare)}/s`);
      }
    } finally {
      await target.close();
    }
  }

  const lower = Math.min(rsa.perSecond, bare ?? Infinity);
  // Each store is held against the lower ceiling as measured next to its own submit phase.
  const lowerFor = (run: StoreRun) => Math.min(run.rsa_oaep_decrypts_per_s_adjacent, bare ?? Infinity);
  const first = runs[0];
  const result = {
    bench: 'secure-message-server',
    at: new Date().toISOString(),
    machine: { cpus: availableParallelism(), model: cpus()[0]?.model ?? 'unknown', node: process.version },
    settings,
    // The headline: the first store run (embedded unless --stores says otherwise).
    store: first?.store,
    auths_per_s: first?.auth.per_s,
    auth_p50_ms: first?.auth.p50_ms,
    auth_p99_ms: first?.auth.p99_ms,
    submits_per_s: first?.submit.per_s,
    submit_p50_ms: first?.submit.p50_ms,
    submit_p99_ms: first?.submit.p99_ms,
    errors: runs.reduce((sum, run) => sum + run.errors, 0),
    peak_rss_mb: first?.peak_rss_mb,
    ceilings: {
      rsa_oaep_decrypts_per_s: round(rsa.perSecond),
      bare_fastify_per_s: bare === undefined ? undefined : round(bare),
      lower: round(lower),
      lower_next_to_headline_run: first === undefined ? undefined : round(lowerFor(first)),
    },
    submits_to_lower_ceiling: first === undefined ? undefined : round(first.submit.per_s / lowerFor(first), 3),
    runs: runs.map((run) => ({ ...run, submits_to_lower_ceiling: round(run.submit.per_s / lowerFor(run), 3) })),
    cold_start: coldStarts,
    skipped,
    seconds: round((Date.now() - started) / 1000),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

await main();
// Helpers of the real-backend targets hold exit hooks and sockets; the result is out, so leave.
process.exit(0);
