/**
 * Issue 9 tried as a new user would, with the real commands: `admin device add --secret`,
 * `device login` with the secret from a file (and from SECURE_MESSAGE_SECRET), `device send`,
 * `admin device remove`, and the next send failing with a message that says what happened.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_UUID } from '../helpers/embedded.js';
import { admin, makeDataDir, REPO_ROOT, startServerProcess, TSX, type ServerProcess } from '../helpers/server-process.js';

const DEVICE = join(REPO_ROOT, 'src/cli/device.ts');

describe('a new user: admin device add --secret, device login with the secret from a file, send, remove', () => {
  const data = makeDataDir();
  const home = mkdtempSync(join(tmpdir(), 'sms-home-'));
  const env = { DATA_DIR: data.dir };
  let server: ServerProcess;

  function device(args: string[], extraEnv: Record<string, string> = {}) {
    return spawnSync(process.execPath, ['--import', TSX, DEVICE, ...args], {
      cwd: home,
      env: { PATH: process.env.PATH, HOME: home, ...extraEnv },
      encoding: 'utf8',
    });
  }

  before(async () => {
    server = await startServerProcess({ ...env, KEY_POOL_SIZE: '2' });
  });
  after(async () => {
    await server?.stop();
    data.remove();
    rmSync(home, { recursive: true, force: true });
  });

  test('the whole way through', () => {
    admin(env, 'user', 'add', TEST_UUID);
    const added = admin(env, 'device', 'add', TEST_UUID, 'phone-01', '--name', 'My phone', '--secret');
    const key = /^client key: (\S+)$/m.exec(added)?.[1];
    const secret = /^secret:\s+(\S+)$/m.exec(added)?.[1];
    assert.equal(key, `${TEST_UUID}phone-01`);
    assert.ok(secret !== undefined && /^[A-Za-z0-9_-]{43}$/.test(secret), added);
    assert.match(admin(env, 'device', 'list', TEST_UUID), /phone-01\toff\tMy phone/);

    // Without the secret: refused, and the message says what to check.
    const refused = device(['login', '--server', server.url, '--key', key!]);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /NOT_FOUND: .*its secret is missing or wrong/);

    const secretFile = join(home, 'phone.secret');
    writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
    const login = device(['login', '--server', server.url, '--key', key!, '--secret-file', secretFile]);
    assert.equal(login.status, 0, login.stderr);
    assert.match(login.stdout, /logged in as device "My phone"/);
    const stateFile = join(home, '.config/secure-message/session.json');
    assert.equal(statSync(stateFile).mode & 0o777, 0o600, 'the state file holding the secret is private');

    const sent = device(['send', 'hello from a new user']);
    assert.equal(sent.status, 0, sent.stderr);
    assert.match(sent.stdout, /^delivered [0-9a-f]{64}$/m);

    assert.match(admin(env, 'device', 'remove', TEST_UUID, 'phone-01'), /device phone-01 removed\nits session was ended/);
    const after = device(['send', 'after the removal']);
    assert.equal(after.status, 1);
    assert.match(after.stderr, /NOT_FOUND: the server knows no such device for this key: it was removed or revoked/);
    assert.ok(!server.output().includes(secret!), 'the secret is in no log line');
  });

  test('the secret may come from SECURE_MESSAGE_SECRET; it is never an argument', () => {
    const added = admin(env, 'device', 'add', TEST_UUID, 'tablet', '--secret');
    const secret = /^secret:\s+(\S+)$/m.exec(added)?.[1]!;
    const state = join(home, 'tablet-state');
    const login = device(['login', '--server', server.url, '--key', `${TEST_UUID}tablet`, '--state', state], { SECURE_MESSAGE_SECRET: secret });
    assert.equal(login.status, 0, login.stderr);
    assert.equal(device(['send', '--state', state, 'from the env']).status, 0);
    const asArgument = device(['login', '--server', server.url, '--key', `${TEST_UUID}tablet`, '--secret', secret]);
    assert.equal(asArgument.status, 2, 'no --secret option: argv is visible to ps');
  });
});
