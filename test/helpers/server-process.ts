/**
 * Runs the real server as a child process, as a user would, on a free loopback port,
 * and collects its JSON log lines so tests can check what it logged.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { track } from './real-backends.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const START_TIMEOUT_MS = 30_000;
/** How long a server that did not start gets to stop on SIGTERM before it is killed. */
const STOP_GRACE_MS = 10_000;
/** tsx by absolute URL: the child runs in a temporary folder that has no node_modules. */
export const TSX = import.meta.resolve('tsx');

/**
 * Which build of the server a test runs, chosen here and nowhere else: the TypeScript source
 * through tsx (the default: no build step needed), or the compiled dist/server of `npm run build`
 * (what `npm start` and a production install run). SMS_TEST_ENTRY=dist runs every test on dist.
 */
export type Entry = 'source' | 'dist';
export const DEFAULT_ENTRY: Entry = process.env.SMS_TEST_ENTRY === 'dist' ? 'dist' : 'source';

/** The node arguments that run `program` (the server's main or the admin command) of the tree at `root`. */
export function entryArgs(program: 'main' | 'cli/admin', entry: Entry = DEFAULT_ENTRY, root = REPO_ROOT): string[] {
  return entry === 'dist' ? [join(root, 'dist/server', `${program}.js`)] : ['--import', TSX, join(root, 'src', `${program}.ts`)];
}

export interface StartOptions {
  entry?: Entry;
  /** The tree to run (a fresh clone); default this repository. */
  root?: string;
  /** The working directory; default DATA_DIR or a temporary folder. */
  cwd?: string;
}

export interface ServerProcess {
  url: string;
  /** The operator listener's address, when ADMIN_PORT was given. */
  adminUrl: string | undefined;
  /** Every log line the server wrote, parsed. */
  logs: Array<Record<string, unknown>>;
  /** Raw stdout and stderr, for assertions that nothing secret was ever printed. */
  output(): string;
  stop(): Promise<number | null>;
  child: ChildProcess;
}

/** A temporary DATA_DIR, removed by the returned function. */
export function makeDataDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'sms-test-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * The environment of a test server: loopback, free port, nothing inherited that picks a backend.
 * One process unless a test asks for WORKERS: quicker to start, and its logs come from one pid.
 */
export function serverEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'info',
    WORKERS: '1',
    // Off unless a test asks: tests run servers side by side, and the default port is fixed.
    ADMIN_PORT: '0',
    // Load shedding stays on, past a lag only a stalled process reaches: on a loaded 2-core CI
    // machine the production default (1 s) sheds single requests of suites that test something
    // else (exactly once, races). The shedding itself is tested with its own threshold.
    MAX_EVENT_LOOP_DELAY_MS: '30000',
  };
  return { ...env, ...extra };
}

export async function startServerProcess(extraEnv: Record<string, string>, options: StartOptions = {}): Promise<ServerProcess> {
  // cwd is a temporary folder so a developer's own .env never leaks into a test.
  const cwd = options.cwd ?? extraEnv.DATA_DIR ?? mkdtempSync(join(tmpdir(), 'sms-cwd-'));
  const child = spawn(process.execPath, entryArgs('main', options.entry, options.root), {
    cwd,
    env: serverEnv(extraEnv),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Killed with the test process, however that ends (a failed before() never reaches stop()).
  track(child);
  const logs: Array<Record<string, unknown>> = [];
  let raw = '';
  let pending = '';
  let adminUrl: string | undefined;
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      // A server that is merely slow would otherwise outlive the test and keep its process alive;
      // SIGTERM, so that a cluster primary stops its workers too, and SIGKILL if that does not end it.
      child.kill('SIGTERM');
      setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }, STOP_GRACE_MS).unref();
      reject(new Error(`server did not start in time:\n${raw}`));
    }, START_TIMEOUT_MS);
    child.stdout!.on('data', (chunk: Buffer) => {
      raw += chunk.toString();
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          logs.push(entry);
          if (entry.msg === 'listening' && typeof entry.url === 'string') {
            clearTimeout(timer);
            if (typeof entry.admin === 'string') adminUrl = entry.admin;
            resolve(entry.url);
          }
        } catch {
          // not a log line
        }
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      raw += chunk.toString();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${raw}`));
    });
  });
  return {
    url,
    adminUrl,
    logs,
    output: () => raw,
    child,
    stop: () =>
      new Promise((resolve) => {
        // A process killed by a signal has no exit code, only a signal code.
        if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill('SIGTERM');
      }),
  };
}

/**
 * Log lines reach us through a pipe, after the HTTP answer: wait for one a while (it returns as
 * soon as the line is there, so the deadline is generous: a loaded machine delays the pipe).
 */
export async function waitForLog(
  server: ServerProcess,
  matches: (line: Record<string, unknown>) => boolean,
  timeoutMs = 15_000,
): Promise<Record<string, unknown> | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = server.logs.find(matches);
    if (line !== undefined || Date.now() > deadline) return line;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Runs the admin command with the given environment; throws with its output when it fails. */
export function admin(env: Record<string, string>, ...args: string[]): string {
  const cwd = env.DATA_DIR ?? REPO_ROOT;
  const result = spawnSync(process.execPath, [...entryArgs('cli/admin'), ...args], {
    cwd,
    env: serverEnv(env),
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`admin ${args.join(' ')} failed (${result.status}): ${result.stderr}`);
  return result.stdout;
}

/** Runs the admin command and returns status and output, for tests of its failures. */
export function adminResult(env: Record<string, string>, ...args: string[]) {
  return spawnSync(process.execPath, [...entryArgs('cli/admin'), ...args], {
    cwd: env.DATA_DIR ?? REPO_ROOT,
    env: serverEnv(env),
    encoding: 'utf8',
  });
}

/** A port free on the loopback right now (for settings like ADMIN_PORT where 0 means "off"). */
export { freePort } from './real-backends.js';
