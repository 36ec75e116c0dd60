/**
 * The independent implementations the interop tests drive (python3 with pyca/cryptography, the
 * OpenSSL command line). Missing: the test fails when REQUIRE_INDEPENDENT_CLIENTS=1 (CI), and
 * otherwise skips, saying so loudly on stderr (scripts/run-tests.mjs repeats SKIPPED lines at the end).
 */
import { spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';

export const REQUIRED = process.env.REQUIRE_INDEPENDENT_CLIENTS === '1';

function probe(command: string, args: string[]): boolean {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  return result.status === 0;
}

export const tools = {
  python: probe('python3', ['-c', 'import cryptography']),
  openssl: probe('openssl', ['version']),
};

export const INSTALL_HINT: Record<keyof typeof tools, string> = {
  python: 'python3 with pyca/cryptography (Debian: apt-get install python3-cryptography)',
  openssl: 'the openssl command line (Debian: apt-get install openssl)',
};

/** True when the test may go on; otherwise fails it (CI) or skips it loudly. */
export function need(t: TestContext, tool: keyof typeof tools): boolean {
  if (tools[tool]) return true;
  const what = INSTALL_HINT[tool];
  if (REQUIRED) assert.fail(`${what} is missing and REQUIRE_INDEPENDENT_CLIENTS=1`);
  process.stderr.write(`SKIPPED: ${t.name}: ${what} is missing (set REQUIRE_INDEPENDENT_CLIENTS=1 to make this a failure)\n`);
  t.skip(`${what} is missing`);
  return false;
}

/** Runs a command with `input` on stdin; throws with its stderr when it fails. */
export function run(command: string, args: string[], input?: string | Buffer): Buffer {
  const result = spawnSync(command, args, { input });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (${result.status}): ${result.stderr?.toString()}`);
  }
  return result.stdout;
}
