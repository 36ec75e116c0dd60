#!/usr/bin/env node
// `npm run build`: the server, admin and device commands compiled by tsc (tsconfig.build.json,
// into dist/server), then the device client bundles and the device CLI bin (build-client.mjs).
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
rmSync(join(root, 'dist/server'), { recursive: true, force: true });
for (const step of [
  [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')],
  [join(root, 'scripts/build-client.mjs')],
]) {
  const result = spawnSync(process.execPath, step, { stdio: 'inherit', cwd: root });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
// tsc copies no data files: the Redis Lua scripts are read at run time from beside their module.
cpSync(join(root, 'src/backends/redis/scripts'), join(root, 'dist/server/backends/redis/scripts'), { recursive: true });
