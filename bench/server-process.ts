/**
 * The real server (src/main.ts) as a child process of a bench, and what the benches read of its
 * JSON log: the `listening` line, the warnings, the events they wait for. Written once for
 * bench/run.ts, bench/growth.ts and bench/cold-start.ts.
 *
 * The per-request lines are skipped, not parsed: the bench shares the CPU with the server, and
 * parsing thousands of them a second would take it from the server being measured. A request
 * line at level 40 or above (a warning) is parsed like any other.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT, TSX } from '../test/helpers/server-process.js';

export interface Listening {
  url: URL;
  /** The worker pids the primary names (the primary itself when it serves alone). */
  workers: number[];
  /** performance.now() when the line arrived. */
  at: number;
}

export interface BenchServer {
  child: ChildProcess;
  /** Resolves on the `listening` line itself; rejects if the server exits first. */
  listening: Promise<Listening>;
  /** Every log line but the per-request ones at info level, parsed, in order. */
  events: Array<Record<string, unknown>>;
  /** The events at level 40 (warn) or above. */
  warnings(): Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

export interface SpawnOptions {
  /** Node flags before the program, e.g. --cpu-prof. */
  nodeArgs?: string[];
}

/** Warn (40) and above: pino's numeric levels. */
const WARNING_LEVEL = /"level":[4-9]\d/;

/** Starts the server in `cwd` on a free loopback port, operator listener off, with `env` on top. */
export function spawnServer(env: Record<string, string>, cwd: string, options: SpawnOptions = {}): BenchServer {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), '--import', TSX, join(REPO_ROOT, 'src/main.ts')], {
    cwd,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      // The operator listener is not measured; its fixed default port would clash with any other server on the machine.
      ADMIN_PORT: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const listening = new Promise<Listening>((resolve, reject) => {
    let pending = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (line.includes('"msg":"request"') && !WARNING_LEVEL.test(line)) continue;
        let event: Record<string, unknown>;
        try {
          event = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue; // not a log line
        }
        events.push(event);
        if (event.msg === 'listening') {
          const workers = Array.isArray(event.workers) ? (event.workers as number[]) : [child.pid ?? 0];
          resolve({ url: new URL(String(event.url)), workers, at: performance.now() });
        }
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited (${code}) before listening:\n${stderr}`)));
  });
  // A caller that stops the server before awaiting `listening` must not meet an unhandled rejection.
  listening.catch(() => undefined);
  return {
    child,
    listening,
    events,
    warnings: () => events.filter((event) => Number(event.level) >= 40),
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/**
 * Warnings counted by message and, when there is one, reason ("sqlite unavailable: database is
 * locked"): the message alone hides the cause.
 */
export function warningKinds(warnings: Array<Record<string, unknown>>): Record<string, number> {
  const kinds: Record<string, number> = {};
  for (const event of warnings) {
    const reason = typeof event.reason === 'string' ? `: ${event.reason.slice(0, 120)}` : '';
    const kind = `${String(event.msg)}${reason}`;
    kinds[kind] = (kinds[kind] ?? 0) + 1;
  }
  return kinds;
}

/** Polls `condition` every 100 ms until it holds or `timeoutMs` passes; returns it then. */
export async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!condition() && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 100));
  return condition();
}
