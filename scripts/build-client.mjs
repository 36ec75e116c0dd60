#!/usr/bin/env node
// Builds the device client for consumers of the package (`npm run build:client`):
//   dist/client/index.js           ESM, platform neutral: Node.js 20 and bundlers
//   dist/client/browser.js         ESM for <script type="module"> (no Node module can get in: the build fails)
//   dist/client/browser.global.js  the same as a classic script, as the global `SecureMessage`
//   dist/cli/device.js             the command line (the package's bin)
//   dist/types/**.d.ts             declarations, checked without Node's types
// `--out DIR` builds somewhere else than dist/.
import { chmodSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as esbuild from 'esbuild';
import ts from 'typescript';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({ options: { out: { type: 'string' } } });
const out = resolve(root, values.out ?? 'dist');
const entry = join(root, 'src/client/index.ts');

rmSync(join(out, 'client'), { recursive: true, force: true });
rmSync(join(out, 'types'), { recursive: true, force: true });

const common = { entryPoints: [entry], bundle: true, target: 'es2022', sourcemap: true, logLevel: 'warning' };
await Promise.all([
  esbuild.build({ ...common, outfile: join(out, 'client/index.js'), format: 'esm', platform: 'neutral' }),
  esbuild.build({ ...common, outfile: join(out, 'client/browser.js'), format: 'esm', platform: 'browser' }),
  esbuild.build({
    ...common,
    outfile: join(out, 'client/browser.global.js'),
    format: 'iife',
    platform: 'browser',
    globalName: 'SecureMessage',
  }),
  esbuild.build({
    entryPoints: [join(root, 'src/cli/device.ts')],
    outfile: join(out, 'cli/device.js'),
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    logLevel: 'warning',
    // The source's own shebang line is kept by esbuild.
  }),
]);
chmodSync(join(out, 'cli/device.js'), 0o755);

// types: [] keeps Node's declarations out, so a browser project compiles against these files.
const program = ts.createProgram([entry], {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
  types: [],
  strict: true,
  declaration: true,
  emitDeclarationOnly: true,
  rootDir: join(root, 'src'),
  outDir: join(out, 'types'),
  skipLibCheck: true,
});
const emitted = program.emit();
const diagnostics = [...ts.getPreEmitDiagnostics(program), ...emitted.diagnostics];
if (diagnostics.length > 0) {
  const host = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' };
  process.stderr.write(ts.formatDiagnostics(diagnostics, host));
  process.exit(1);
}
process.stdout.write(`client built in ${out}\n`);
