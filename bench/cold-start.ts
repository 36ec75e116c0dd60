/**
 * The bench's cold-start phase (issue 15): what a reconnect storm after a deploy or a crash
 * restart meets. With the shared key pool filled (KEY_POOL_SIZE ≥ the burst), the server is
 * stopped and started again, and the moment it logs `listening` a burst of `coldStartAuths`
 * auths arrives, `coldStartConcurrency` at once (default: all of them, one connection each), on
 * JIT-cold code. Reported: p50/p99/max of each auth (from its request written to its answer
 * read; the connections are opened first), the burst's wall time from `listening` to the last
 * answer, errors by kind, how many auths found the pool empty, and the server CPU it took.
 *
 * Run by bench/run.ts once per store, on that store's target (its seeded directory and data).
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { formPost, percentile, runLoad } from './load.js';
import { totalCpuSeconds } from './proc.js';
import { spawnServer, until } from './server-process.js';
import { round } from './settings.js';

export interface ColdStartSettings {
  coldStartAuths: number;
  coldStartConcurrency: number;
  workers: number;
  /** How long the pool may take to fill before the restart (nice 19: slow on a busy machine). */
  coldStartPoolWaitSeconds: number;
  /** When set: the restarted server runs with --cpu-prof and writes its profiles here. */
  profileDir: string;
}

export interface ColdStartTarget {
  name: string;
  env: Record<string, string>;
  dataDir: string;
  seed(uuids: string[]): Promise<void>;
}

export interface ColdStartResult {
  auths: number;
  concurrency: number;
  key_pool_size: number;
  /** Whether the pool was full before the restart. */
  key_pool_ready: boolean;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  /** From the `listening` line to the last answer (connecting included). */
  burst_ms: number;
  errors: number;
  error_kinds?: Record<string, number>;
  /** Workers that logged `key pool empty` during the burst (0 = every auth took a pooled pair). */
  pool_drained_in: number;
  /** Worker CPU over the burst, per auth. */
  server_cpu_ms_per_auth: number;
  warnings: Record<string, number>;
}

const DEVICE = 'bench-device';

export async function benchColdStart(target: ColdStartTarget, settings: ColdStartSettings, say: (text: string) => void): Promise<ColdStartResult> {
  const count = settings.coldStartAuths;
  const uuids = Array.from({ length: count }, () => randomUUID());
  say(`${target.name}: cold start: seeding ${count} users`);
  await target.seed(uuids);
  // The whole burst from the pool, with a margin: what KEY_POOL_SIZE's default is for.
  const poolSize = count + 16;
  const env = { ...target.env, WORKERS: String(settings.workers), KEY_POOL_SIZE: String(poolSize) };

  say(`${target.name}: cold start: filling the shared key pool to ${poolSize}`);
  const filling = spawnServer(env, target.dataDir);
  let poolReady: boolean;
  try {
    await filling.listening;
    poolReady = await until(() => filling.events.some((event) => event.msg === 'key pool ready'), settings.coldStartPoolWaitSeconds * 1000);
  } finally {
    await filling.stop();
  }
  say(`${target.name}: cold start: pool ${poolReady ? 'full' : 'NOT full after the wait'}; restarting, burst of ${count} at ${settings.coldStartConcurrency}`);

  // Built before the restart, so the burst costs the load generator nothing but writes.
  const nodeArgs = settings.profileDir === '' ? [] : ['--cpu-prof', `--cpu-prof-dir=${join(settings.profileDir, `cold-start-${target.name}`)}`];
  const server = spawnServer(env, target.dataDir, { nodeArgs });
  try {
    const { url, workers, at } = await server.listening;
    const host = url.hostname;
    const port = Number(url.port);
    const requests = uuids.map((uuid) => formPost(host, port, '/api', { key: `${uuid}${DEVICE}`, status: 'on' }));
    const cpuBefore = totalCpuSeconds(workers);
    const result = await runLoad({ host, port, requests, concurrency: Math.max(1, settings.coldStartConcurrency), keepBodies: true });
    const burstMs = performance.now() - at;
    const cpuUsed = totalCpuSeconds(workers) - cpuBefore;
    let errors = result.transportErrors;
    const kinds: Record<string, number> = {};
    result.status.forEach((status, i) => {
      const body = result.bodies[i] ?? '';
      if (status === 200 && body.includes('"code":0')) return;
      if (status === -1) return; // counted as a transport error
      errors += 1;
      const kind = `${status} ${body.slice(0, 60)}`;
      kinds[kind] = (kinds[kind] ?? 0) + 1;
    });
    // Log lines of the burst come after its answers: a moment for them to arrive.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const warnings: Record<string, number> = {};
    for (const event of server.warnings()) {
      const kind = String(event.msg);
      warnings[kind] = (warnings[kind] ?? 0) + 1;
    }
    const cold: ColdStartResult = {
      auths: count,
      concurrency: Math.min(settings.coldStartConcurrency, count),
      key_pool_size: poolSize,
      key_pool_ready: poolReady,
      p50_ms: round(percentile(result.latencyMs, 50), 2),
      p99_ms: round(percentile(result.latencyMs, 99), 2),
      max_ms: round(percentile(result.latencyMs, 100), 2),
      burst_ms: round(burstMs),
      errors,
      ...(Object.keys(kinds).length > 0 ? { error_kinds: kinds } : {}),
      pool_drained_in: server.events.filter((event) => String(event.msg).startsWith('key pool empty')).length,
      server_cpu_ms_per_auth: round((cpuUsed / count) * 1000, 2),
      warnings,
    };
    say(
      `${target.name}: cold start: p50 ${cold.p50_ms} ms p99 ${cold.p99_ms} ms max ${cold.max_ms} ms, burst ${cold.burst_ms} ms, ` +
        `${errors} errors, server CPU ${cold.server_cpu_ms_per_auth} ms per auth, pool drained in ${cold.pool_drained_in} workers`,
    );
    return cold;
  } finally {
    await server.stop();
  }
}

/** The default concurrency: the whole burst at once, as a reconnect storm arrives. */
export const COLD_START_DEFAULTS = { coldStartAuths: 200, coldStartConcurrency: 200, coldStartPoolWaitSeconds: 600 };
