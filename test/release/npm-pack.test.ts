/**
 * Issue 14, releases: what `npm pack` would publish. It builds first (prepack), then lists the
 * files: the built server, client bundles and declarations, the device command line (executable),
 * the docs and the CHANGELOG; no tests, no fixtures, no TypeScript source, no local data.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/server-process.js';

interface PackResult {
  name: string;
  version: string;
  files: Array<{ path: string; mode: number }>;
}

test('npm pack holds the build, the CLI and the docs, and no tests or fixtures', () => {
  const result = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts=false'], { cwd: REPO_ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  assert.equal(result.status, 0, result.stderr);
  // prepack's build prints to stdout before the JSON.
  const json = result.stdout.slice(result.stdout.indexOf('[\n'));
  const [pack] = JSON.parse(json) as PackResult[];
  assert.ok(pack);
  const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string> };
  assert.equal(pack.version, manifest.version);
  assert.match(pack.version, /^\d+\.\d+\.\d+$/);
  const paths = new Set(pack.files.map((f) => f.path));
  for (const path of [
    'package.json',
    'README.md',
    'CHANGELOG.md',
    'dist/server/main.js',
    'dist/server/cli/admin.js',
    'dist/client/index.js',
    'dist/client/browser.js',
    'dist/client/browser.global.js',
    'dist/types/client/index.d.ts',
    'dist/cli/device.js',
    'docs/DEPLOY.md',
    'Dockerfile',
    'compose.yaml',
  ]) {
    assert.ok(paths.has(path), `${path} is in the package`);
  }
  for (const bin of Object.values(manifest.bin)) {
    const file = pack.files.find((f) => f.path === bin.replace(/^\.\//, ''));
    assert.ok(file, `bin ${bin}`);
    assert.ok((file.mode & 0o111) !== 0, `bin ${bin} is executable`);
  }
  for (const path of paths) {
    assert.doesNotMatch(path, /^(test|bench|src|data|test-output|node_modules)\//, path);
    assert.doesNotMatch(path, /fixtures|\.test\.|\.env$|\.ts$(?<!\.d\.ts$)/, path);
  }
});
