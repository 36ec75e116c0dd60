/** The device command line, run as a process (as `npm run device` does) against the live server. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { findDevice } from '../../src/directory/device-list.js';
import { clientKey, startEmbedded, TEST_UUID, type EmbeddedFixture } from '../helpers/embedded.js';
import { REPO_ROOT, TSX } from '../helpers/server-process.js';

const DEVICE = join(REPO_ROOT, 'src/cli/device.ts');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

describe('device command line, live', () => {
  let fx: EmbeddedFixture;
  let home: string;
  const stateFile = () => join(home, '.config/secure-message/session.json');

  let bundled: string;

  /**
   * Runs the command with a private HOME; `input` goes to standard input, piece by piece if a function.
   * From the esbuild bundle, as the package's bin runs (tsx would add half a second to every run);
   * the first test runs the source through tsx, as `npm run device` does.
   */
  function device(args: string[], input?: string | Buffer | ((child: ReturnType<typeof spawn>) => void), viaTsx = false): Promise<Run> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, viaTsx ? ['--import', TSX, DEVICE, ...args] : [bundled, ...args], {
        cwd: home,
        env: { PATH: process.env.PATH, HOME: home },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('close', (status) => resolve({ status, stdout, stderr }));
      if (typeof input === 'function') input(child);
      else child.stdin!.end(input);
    });
  }

  function delivered(run: Run): string[] {
    assert.equal(run.status, 0, run.stderr);
    return run.stdout.trim().split('\n').map((line) => {
      const match = /^(delivered|duplicate) ([0-9a-f]{64})$/.exec(line);
      assert.ok(match, `unexpected line: ${line}`);
      return match[2]!;
    });
  }

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'sms-cli-home-'));
    bundled = join(home, 'device.mjs');
    await Promise.all([
      build({ entryPoints: [DEVICE], outfile: bundled, bundle: true, format: 'esm', platform: 'node', target: 'node20', logLevel: 'error' }),
      startEmbedded([['cli-1', 'Command line']], { WORKERS: '1' }).then((started) => (fx = started)),
    ]);
  });
  after(async () => {
    await fx.close();
    rmSync(home, { recursive: true, force: true });
  });

  test('usage: --help is 0; unknown commands and bad options are 2; send before login is 3', async () => {
    const [help, unknown, missing, badOption, early, misplaced] = await Promise.all([
      device(['--help'], undefined, true),
      device(['fly']),
      device(['login', '--server', fx.server.url]),
      device(['send', '--no-such-option']),
      device(['send', 'x']),
      device(['send', '--server', fx.server.url, 'x']),
    ]);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /device login --server URL --key KEY/);
    assert.equal(unknown.status, 2);
    assert.equal(missing.status, 2);
    assert.equal(badOption.status, 2);
    assert.match(badOption.stderr, /--help/);
    assert.equal(early.status, 3);
    assert.equal(misplaced.status, 2);
    assert.match(misplaced.stderr, /belong to login/);
    assert.match(early.stderr, /not logged in/);
  });

  test('login of an unknown device is 1 and keeps nothing', async () => {
    const run = await device(['login', '--server', fx.server.url, '--key', clientKey('nope')]);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /NOT_FOUND/);
    assert.equal(existsSync(stateFile()), false);
  });

  test('login keeps the session in a file only its owner can read', async () => {
    const run = await device(['login', '--server', fx.server.url, '--key', clientKey('cli-1')]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /logged in as device "Command line"/);
    assert.equal(statSync(stateFile()).mode & 0o777, 0o600);
    assert.equal(statSync(join(home, '.config/secure-message')).mode & 0o777, 0o700);
    const state = JSON.parse(readFileSync(stateFile(), 'utf8')) as { server: string; key: string; session: { publicKey: string } };
    assert.equal(state.key, clientKey('cli-1'));
    assert.match(state.session.publicKey, /^-----BEGIN PUBLIC KEY-----/);
    assert.equal(findDevice(await fx.devicesOf(TEST_UUID), 'cli-1')?.status, 'on');
  });

  test('send: an argument, a file, standard input as it is; --cbc and --minute', async () => {
    const [fromArg] = delivered(await device(['send', '{"t":1}']));
    assert.equal((await fx.messages.get(fromArg!))?.payload, '{"t":1}');

    const file = join(home, 'reading.json');
    writeFileSync(file, '{"from":"file","text":"Grüße ✓"}');
    const [fromFile] = delivered(await device(['send', '--file', file]));
    assert.equal((await fx.messages.get(fromFile!))?.payload, '{"from":"file","text":"Grüße ✓"}');

    const [fromStdin] = delivered(await device(['send'], 'from stdin\nsecond line\n'));
    assert.equal((await fx.messages.get(fromStdin!))?.payload, 'from stdin\nsecond line\n');

    const [cbc] = delivered(await device(['send', '--cbc', '--minute', '12345', 'old kind of server']));
    const stored = await fx.messages.get(cbc!);
    assert.equal(stored?.payload, 'old kind of server');
    assert.equal(stored?.minute, 12345);
    const again = await device(['send', '--cbc', '--minute', '12345', 'old kind of server']);
    assert.match(again.stdout, /^duplicate [0-9a-f]{64}\n$/);
  });

  test('send --lines from a stream: each line is sent as it arrives, blank lines skipped', async () => {
    const run = await device(['send', '--lines'], (child) => {
      child.stdin!.write('line one\r\n');
      // The second line only once the first was answered: proof that lines go out as they come.
      child.stdout!.once('data', () => {
        child.stdin!.write('\nline two\nline three');
        child.stdin!.end();
      });
    });
    const ids = delivered(run);
    assert.equal(ids.length, 3);
    assert.deepEqual(
      await Promise.all(ids.map(async (id) => (await fx.messages.get(id))?.payload)),
      ['line one', 'line two', 'line three'],
    );
  });

  test('input that is not UTF-8 is 2 and nothing is sent', async () => {
    const file = join(home, 'binary.bin');
    writeFileSync(file, Buffer.from([0x66, 0xff, 0xfe]));
    const before = (await fx.messages.list(1000)).length;
    const run = await device(['send', '--file', file]);
    assert.equal(run.status, 2);
    assert.match(run.stderr, /not UTF-8/);
    assert.equal((await device(['send'], '')).status, 2, 'an empty message');
    assert.equal((await fx.messages.list(1000)).length, before);
  });

  test('an expired session is renewed by send, and the new key is kept', async () => {
    const before = JSON.parse(readFileSync(stateFile(), 'utf8')) as { session: { publicKey: string } };
    await fx.sessions.delete(clientKey('cli-1'));
    const [id] = delivered(await device(['send', 'after expiry']));
    assert.equal((await fx.messages.get(id!))?.payload, 'after expiry');
    const after = JSON.parse(readFileSync(stateFile(), 'utf8')) as { session: { publicKey: string } };
    assert.notEqual(after.session.publicKey, before.session.publicKey);
    assert.equal(statSync(stateFile()).mode & 0o777, 0o600);
  });

  test('logout ends the session and forgets it; then send is 3 again', async () => {
    const run = await device(['logout']);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^logged out\n$/);
    assert.equal(existsSync(stateFile()), false);
    assert.equal(await fx.sessions.get(clientKey('cli-1')), null);
    assert.equal(findDevice(await fx.devicesOf(TEST_UUID), 'cli-1')?.status, 'off');
    assert.equal((await device(['send', 'x'])).status, 3);
  });

  test('--state DIR keeps the session elsewhere; an unreachable server is 4', async () => {
    const dir = join(home, 'elsewhere');
    const login = await device(['login', '--server', fx.server.url, '--key', clientKey('cli-1'), '--state', dir]);
    assert.equal(login.status, 0, login.stderr);
    assert.equal(statSync(join(dir, 'session.json')).mode & 0o777, 0o600);
    assert.equal((await device(['logout', '--state', dir])).status, 0);

    // Port 9 (discard) on the loopback: nothing listens, so every attempt is refused.
    const down = await device(['login', '--server', 'http://127.0.0.1:9', '--key', clientKey('cli-1'), '--state', dir, '--attempts', '1']);
    assert.equal(down.status, 4);
    assert.match(down.stderr, /NETWORK/);
  });
});
