#!/usr/bin/env node
// `npm test`: type-checks, then runs every test file under test/ with Node's own test runner and tsx.
// Node 20's --test does not expand globs or pick up .ts files, so the list is built here.
// Suites that cannot run on this machine print a line containing "SKIPPED"; they are repeated
// at the very end so nobody mistakes a partial run for a full one.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';

function findTests(dir) {
  const found = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...findTests(path));
    else if (name.endsWith('.test.ts')) found.push(path);
  }
  return found;
}

const only = process.argv.slice(2);
if (only.length === 0) {
  const typecheck = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '--noEmit', '-p', '.'], { stdio: 'inherit' });
  if (typecheck.status !== 0) {
    console.error('type check failed');
    process.exit(typecheck.status ?? 1);
  }
}
const files = only.length > 0 ? only : findTests('test');
const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files],
  { stdio: ['inherit', 'pipe', 'pipe'] },
);
// The runner relays a test file's stderr on its own stdout, so both streams are scanned.
const skipped = new Set();
function watch(stream, sink) {
  let pending = '';
  stream.on('data', (chunk) => {
    sink.write(chunk);
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) if (line.includes('SKIPPED')) skipped.add(line.trim());
  });
  stream.on('end', () => {
    if (pending.includes('SKIPPED')) skipped.add(pending.trim());
  });
}
watch(child.stdout, process.stdout);
watch(child.stderr, process.stderr);
child.on('close', (code, signal) => {
  if (skipped.size > 0) {
    console.error('\n================ NOT EVERYTHING RAN ================');
    for (const line of skipped) console.error(line);
    console.error('====================================================\n');
  }
  process.exit(code ?? (signal ? 1 : 0));
});
