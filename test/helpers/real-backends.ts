/**
 * What the real-server helpers (redis-server.ts, mariadb-server.ts) share: finding a binary,
 * deciding whether a suite skips or fails when it is missing, free loopback ports, and
 * making sure no server outlives the test process.
 *
 * REQUIRE_REAL_BACKENDS=1 (set by .ci/run) turns a missing binary from a skip into a failure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';

/** What a test can do to a server process it started (redis-server, mariadbd). */
export interface ManagedServer {
  readonly host: string;
  readonly port: number;
  readonly dir: string;
  /** What the secure message server needs to use this backend. */
  readonly env: Record<string, string>;
  running(): boolean;
  /** SIGTERM waits for a clean shutdown; SIGKILL is a crash. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Starts it again on the same port and data; resolves once it answers. */
  start(): Promise<void>;
  /** SIGSTOP: connections stay open but nothing answers. */
  pause(): void;
  resume(): void;
  /** The server's own log, for failure messages. */
  log(): string;
  /** Stops it and removes its folder. */
  close(): Promise<void>;
}

/** A server's log file so far; empty while it does not exist yet. */
export function readLogFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

export const REQUIRE_REAL_BACKENDS = process.env.REQUIRE_REAL_BACKENDS === '1';

/** The absolute path of an executable on PATH (or in the sbin folders Debian puts servers in), or null. */
export function findBinary(name: string): string | null {
  const folders = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  for (const folder of folders) {
    if (folder === '') continue;
    const path = join(folder, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return null;
}

/** A missing binary: what it is and how to get it. */
export interface Missing {
  binary: string;
  install: string;
}

const announced = new Set<string>();

/**
 * The `skip` option of a describe() that needs these binaries: false when they are all there,
 * or when REQUIRE_REAL_BACKENDS=1 (the suite then runs and fails on the missing binary);
 * otherwise a reason, also printed to stderr on a line scripts/run-tests.mjs repeats at the end.
 */
export function skipUnlessInstalled(suites: string, missing: Missing[]): string | false {
  if (missing.length === 0 || REQUIRE_REAL_BACKENDS) return false;
  const reason = missing.map((m) => `${m.binary} not found; install ${m.install}`).join('; ');
  const line = `SKIPPED: ${suites} — ${reason} (REQUIRE_REAL_BACKENDS=1 makes this a failure)`;
  if (!announced.has(line)) {
    announced.add(line);
    process.stderr.write(`\n${'!'.repeat(78)}\n${line}\n${'!'.repeat(78)}\n`);
  }
  return reason;
}

/** Several skip options as one, each computed (and so announced) even when an earlier one skips. */
export function skipIfAny(...skips: Array<string | false>): string | false {
  const reasons = skips.filter((reason): reason is string => reason !== false);
  return reasons.length === 0 ? false : reasons.join('; ');
}

/** Throws the error a required-but-missing binary deserves. */
export function requireBinary(name: string, install: string): string {
  const path = findBinary(name);
  if (path === null) {
    throw new Error(`${name} not found on PATH: install ${install}${REQUIRE_REAL_BACKENDS ? ' (REQUIRE_REAL_BACKENDS=1: the real-backend suites must run)' : ''}`);
  }
  return path;
}

/** Ports this test process has handed out already: never handed out twice (see freePort). */
const handedOut = new Set<number>();

/**
 * A port nobody listens on right now: bind port 0 on the loopback and give it back. Between
 * here and the server's own bind the port is nobody's, so the kernel may hand it out again;
 * within this process it never is handed out twice (a cluster takes twelve in a row, a
 * Sentinel set five at once, and none of them is bound before the last is picked).
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await anyFreePort();
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
}

function anyFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` until it returns true; throws `describe()` when the deadline passes. */
export async function waitUntil(probe: () => Promise<boolean>, timeoutMs: number, describe: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(describe());
    await sleep(50);
  }
}

// Servers and folders a crashed or interrupted test process must not leave behind.
const liveChildren = new Set<ChildProcess>();
const liveFolders = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of liveChildren) child.kill('SIGKILL');
    for (const folder of liveFolders) rmSync(folder, { recursive: true, force: true });
  });
}

/** Kills the child with the test process, whatever way that ends. */
export function track(child: ChildProcess): void {
  installExitHook();
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
}

/** Removes the folder with the test process unless `release` did it first. */
export function trackFolder(folder: string): () => void {
  installExitHook();
  liveFolders.add(folder);
  return () => {
    liveFolders.delete(folder);
    rmSync(folder, { recursive: true, force: true });
  };
}

/**
 * Two servers started at once, as a pair: if either fails to start, the other is closed before
 * the failure is thrown (a live server keeps the test process from exiting, and after() never
 * gets the pair to close).
 */
export async function startBoth<A extends { close(): Promise<void> }, B extends { close(): Promise<void> }>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [first, second] = await Promise.allSettled([a, b]);
  if (first.status === 'fulfilled' && second.status === 'fulfilled') return [first.value, second.value];
  if (first.status === 'fulfilled') await first.value.close();
  if (second.status === 'fulfilled') await second.value.close();
  throw first.status === 'rejected' ? first.reason : (second as PromiseRejectedResult).reason;
}

/** Sends `signal` and resolves when the process has exited. */
export function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

/** The process half of a ManagedServer, the same for every server binary the tests run. */
export type ServerProcess = Pick<ManagedServer, 'running' | 'stop' | 'start' | 'pause' | 'resume'>;

export interface ServerProcessOptions {
  binary: string;
  args: string[];
  /** For messages: "redis-server on port 6380". */
  description: string;
  /** True once the server answers; may throw while it does not. */
  ready: () => Promise<boolean>;
  readLog: () => string;
  timeoutMs: number;
}

/** Starts, stops, pauses and resumes one server binary; each start waits until it is ready. */
export function serverProcess(options: ServerProcessOptions): ServerProcess {
  let child: ChildProcess | undefined;
  const running = (): boolean => child !== undefined && child.exitCode === null && child.signalCode === null;
  return {
    running,
    async start() {
      if (running()) throw new Error(`${options.description} is running already`);
      const current = spawn(options.binary, options.args, { stdio: 'ignore' });
      child = current;
      track(current);
      try {
        await waitUntil(
          async () => {
            if (current.exitCode !== null || current.signalCode !== null) throw new Error('exited');
            return options.ready();
          },
          options.timeoutMs,
          () => `${options.description} did not become ready:\n${options.readLog()}`,
        );
      } catch (error) {
        // A server that never became ready must not outlive the failure: a live child keeps the
        // test process from exiting, and the exit hook that would kill it then never runs.
        current.kill('SIGCONT');
        await stopChild(current, 'SIGKILL');
        throw error;
      }
    },
    async stop(signal = 'SIGTERM') {
      if (child === undefined) return;
      // A paused process cannot act on SIGTERM.
      child.kill('SIGCONT');
      await stopChild(child, signal);
    },
    pause: () => {
      child?.kill('SIGSTOP');
    },
    resume: () => {
      child?.kill('SIGCONT');
    },
  };
}
