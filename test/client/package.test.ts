/**
 * The package's client entry point as a consumer gets it: `npm run build:client`, then
 * `import 'secure-message-server/client'` through package.json "exports", and the bin.
 * (The build itself type-checks the declarations with the DOM library and without Node's types.)
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { openEnvelope, rsaOaepUnwrapper } from '../../src/envelope/index.js';
import { REPO_ROOT } from '../helpers/server-process.js';

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  name: string;
  exports: Record<string, Record<string, string>>;
  bin: Record<string, string>;
};

describe('package entry point ./client', () => {
  before(() => {
    const built = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts/build-client.mjs')], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(built.status, 0, built.stderr);
  });

  test('every file "exports" and "bin" name exists after the build', () => {
    for (const target of Object.values(pkg.exports['./client']!)) statSync(join(REPO_ROOT, target));
    const bin = join(REPO_ROOT, Object.values(pkg.bin)[0]!);
    assert.ok(statSync(bin).mode & 0o100, 'the bin is executable');
    const help = spawnSync(bin, ['--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /device send/);
  });

  test('plain Node imports it by package name, without tsx, and its envelopes open', () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const script = `
      import { buildEnvelope, SecureMessageClient, SecureMessageError } from '${pkg.name}/client';
      if (typeof SecureMessageClient !== 'function' || typeof SecureMessageError !== 'function') throw new Error('exports missing');
      const envelope = await buildEnvelope(process.env.PEM, 'from the package build', { minute: 77 });
      process.stdout.write(envelope.message);`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      env: { PATH: process.env.PATH, PEM: publicKey.export({ type: 'spki', format: 'pem' }).toString() },
    });
    assert.equal(run.status, 0, run.stderr);
    const opened = openEnvelope(run.stdout, rsaOaepUnwrapper(privateKey));
    assert.equal(opened.plaintext, 'from the package build');
    assert.equal(opened.enc, 'AES-GCM');
  });
});
