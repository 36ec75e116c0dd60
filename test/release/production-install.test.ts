/**
 * Issue 14: a production install from a fresh clone, as an operator does it. The committed tree
 * is cloned, installed (`npm ci`), built (`npm run build`), then installed for production
 * (`npm ci --omit=dev`: no TypeScript, no tsx), and the server is started exactly as the image's
 * CMD starts it, and by `npm start` as the README says; each serves auth, submit and logout.
 * Ctrl-C on `npm start` (SIGINT to the whole process group, as a terminal sends it) stops it
 * with "stopping" and "stopped" logged once each and exit code 0.
 *
 * better-sqlite3 cannot download its prebuilt binary here (no internet); the clone gets this
 * checkout's binary through prebuild-install's own local-prebuild path, as a real install gets
 * the downloaded one, instead of compiling SQLite for minutes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encryptEnvelope } from '../helpers/encrypt.js';
import { postForm } from '../helpers/http.js';
import { entryArgs, freePort, REPO_ROOT, serverEnv, startServerProcess } from '../helpers/server-process.js';
import { dockerCmd } from '../helpers/dockerfile.js';

const UUID = '0f8fad5b-d9cb-469f-a165-70867728950e';
const KEY = `${UUID}phone-01`;

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): SpawnSyncReturns<string> {
  const result = spawnSync(command, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  assert.equal(result.status, 0, `${command} ${args.join(' ')} failed:\n${result.stdout}\n${result.stderr}`);
  return result;
}

/** auth, submit, duplicate-free submit, logout against a running server. */
async function exercise(url: string): Promise<void> {
  const auth = await postForm(url, { key: KEY, status: 'on' });
  assert.equal(auth.body.code, 0, auth.text);
  const submit = await postForm(url, { key: KEY, message: encryptEnvelope(String(auth.body.message), '{"temp":21.5}', { enc: 'AES-GCM' }) });
  assert.equal(submit.body.message, 'delivered', submit.text);
  const logout = await postForm(url, { key: KEY, status: 'off' });
  assert.deepEqual(logout.body, { message: 'deleted', code: 0 });
}

describe('production install from a fresh clone', () => {
  let work: string;
  let clone: string;
  let installEnv: NodeJS.ProcessEnv;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'sms-clone-'));
    clone = join(work, 'clone');
    run('git', ['clone', '--quiet', '--no-hardlinks', REPO_ROOT, clone], work);
    const prebuilds = join(work, 'prebuilds');
    mkdirSync(join(prebuilds, 'build/Release'), { recursive: true });
    const sqlite = join(REPO_ROOT, 'node_modules/better-sqlite3');
    const version = (JSON.parse(readFileSync(join(sqlite, 'package.json'), 'utf8')) as { version: string }).version;
    run('cp', [join(sqlite, 'build/Release/better_sqlite3.node'), join(prebuilds, 'build/Release/')], work);
    run('tar', ['czf', `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`, 'build'], prebuilds);
    installEnv = {
      ...process.env,
      npm_config_better_sqlite3_local_prebuilds: prebuilds,
      npm_config_prefer_offline: 'true',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
    };
    run('npm', ['ci'], clone, installEnv);
    run('npm', ['run', 'build'], clone, installEnv);
    const production = run('npm', ['ci', '--omit=dev'], clone, installEnv);
    assert.doesNotMatch(production.stderr, /EBADENGINE/, 'no engine warning on install');
  });

  after(() => {
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  test('the production install has the build and no development tool', () => {
    assert.ok(existsSync(join(clone, 'dist/server/main.js')));
    assert.ok(existsSync(join(clone, 'dist/client/index.js')));
    assert.ok(existsSync(join(clone, 'dist/cli/device.js')));
    for (const tool of ['tsx', 'typescript', 'esbuild']) assert.ok(!existsSync(join(clone, 'node_modules', tool)), `${tool} is not installed`);
  });

  test("the image's CMD serves auth, submit and logout from it", async () => {
    const data = mkdtempSync(join(work, 'data-'));
    // The admin command of the production install seeds the directory.
    const adminEnv = serverEnv({ DATA_DIR: data });
    run(process.execPath, [...entryArgs('cli/admin', 'dist', clone), 'user', 'add', UUID], clone, adminEnv);
    run(process.execPath, [...entryArgs('cli/admin', 'dist', clone), 'device', 'add', UUID, 'phone-01', '--name', 'Phone'], clone, adminEnv);
    const [program, ...args] = dockerCmd();
    assert.equal(program, 'node');
    assert.deepEqual(entryArgs('main', 'dist', clone), [join(clone, ...args[0]!.split('/'))]);
    const server = await startServerProcess({ DATA_DIR: data }, { entry: 'dist', root: clone, cwd: clone });
    try {
      await exercise(server.url);
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });

  test('`npm start` serves, and Ctrl-C stops it once with exit code 0', async () => {
    const data = mkdtempSync(join(work, 'data-'));
    const adminEnv = serverEnv({ DATA_DIR: data });
    run(process.execPath, [...entryArgs('cli/admin', 'dist', clone), 'user', 'add', UUID], clone, adminEnv);
    run(process.execPath, [...entryArgs('cli/admin', 'dist', clone), 'device', 'add', UUID, 'phone-01'], clone, adminEnv);
    const adminPort = await freePort();
    // detached: a process group of its own, so the test can signal it as a terminal's Ctrl-C does.
    const child = spawn('npm', ['start'], { cwd: clone, env: { ...adminEnv, ADMIN_PORT: String(adminPort) }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 30_000;
      while (!/"msg":"listening"/.test(output)) {
        assert.ok(Date.now() < deadline && child.exitCode === null, `npm start did not listen:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const listening = output.split('\n').filter((line) => line.includes('"msg":"listening"'));
      assert.equal(listening.length, 1, 'one listening line');
      const line = JSON.parse(listening[0]!) as { url: string; admin: string };
      assert.equal(line.admin, `http://127.0.0.1:${adminPort}`);
      assert.doesNotMatch(output, /Server listening at/, "no Fastify line besides the server's own");
      await exercise(line.url);
      const metrics = await (await fetch(`${line.admin}/metrics`)).text();
      assert.match(metrics, /^secure_message_requests_total\{op="submit",code="0"\} 1$/m);
    } finally {
      process.kill(-child.pid!, 'SIGINT');
    }
    assert.equal(await exited, 0, output);
    const messages = output.split('\n').flatMap((l) => {
      try {
        return [(JSON.parse(l) as { msg: string }).msg];
      } catch {
        return [];
      }
    });
    assert.equal(messages.filter((m) => m === 'stopping').length, 1, output);
    assert.equal(messages.filter((m) => m === 'stopped').length, 1, output);
  });
});
