#!/usr/bin/env node
// `npm start` runs the compiled server (dist/server). This runs first (prestart): on a fresh
// clone, or after the source changed, it builds; on a production install (`npm ci --omit=dev`
// of a built tree: no TypeScript compiler) it leaves the built tree as it is, and when there is
// none it says in one line what to do instead of a stack trace.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const built = join(root, 'dist/server/main.js');
const compiler = join(root, 'node_modules/typescript/bin/tsc');

function newestSource(dir) {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const stat = statSync(path);
    newest = Math.max(newest, stat.isDirectory() ? newestSource(path) : stat.mtimeMs);
  }
  return newest;
}

const hasSource = existsSync(join(root, 'src'));
const stale = !existsSync(built) || (hasSource && newestSource(join(root, 'src')) > statSync(built).mtimeMs);
if (!stale) process.exit(0);
if (!existsSync(compiler) || !hasSource) {
  if (existsSync(built)) process.exit(0); // a production install of a built tree: run what was built
  console.error('secure-message-server is not built (no dist/server/main.js) and cannot build here: run `npm ci && npm run build` first');
  process.exit(1);
}
console.error('building the server (npm run build) ...');
const result = spawnSync(process.execPath, [join(root, 'scripts/build.mjs')], { stdio: 'inherit', cwd: root });
process.exit(result.status ?? 1);
