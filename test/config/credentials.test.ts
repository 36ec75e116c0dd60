/** SPEC §10 settings: TRUST_PROXY's three forms and its refused `true`, the budget and recheck settings. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ConfigError, readConfig } from '../../src/config/config.js';
import { REPO_ROOT, serverEnv, TSX } from '../helpers/server-process.js';

describe('SPEC §10 settings', () => {
  test('defaults: no secret required, recheck every 60 s, 30 failures per key in 300 s, no address budget, no proxy', () => {
    const config = readConfig({});
    assert.deepEqual(config.credentials, {
      requireDeviceSecret: false,
      directoryRecheckSeconds: 60,
      failureLimitPerKey: 30,
      failureLimitPerAddress: 0,
      failureWindowSeconds: 300,
    });
    assert.equal(config.trustProxy, false);
  });

  test('TRUST_PROXY: false, a hop count, or addresses and CIDRs', () => {
    assert.equal(readConfig({ TRUST_PROXY: 'false' }).trustProxy, false);
    assert.equal(readConfig({ TRUST_PROXY: '0' }).trustProxy, false);
    assert.equal(readConfig({ TRUST_PROXY: '2' }).trustProxy, 2);
    assert.deepEqual(readConfig({ TRUST_PROXY: '10.0.0.5, 192.168.0.0/16,::1,fd00::/8,loopback' }).trustProxy, [
      '10.0.0.5',
      '192.168.0.0/16',
      '::1',
      'fd00::/8',
      'loopback',
    ]);
  });

  const refused: Array<[string, string]> = [
    ['TRUST_PROXY', 'true'],
    ['TRUST_PROXY', 'TRUE'],
    ['TRUST_PROXY', 'yes'],
    ['TRUST_PROXY', 'perhaps'],
    ['TRUST_PROXY', '10.0.0.0/33'],
    ['TRUST_PROXY', '10.0.0.1,example.com'],
    ['TRUST_PROXY', '99'],
    ['REQUIRE_DEVICE_SECRET', 'maybe'],
    ['DIRECTORY_RECHECK_SECONDS', '-1'],
    ['FAILURE_LIMIT_PER_KEY', 'many'],
    ['FAILURE_LIMIT_PER_ADDRESS', '1.5'],
    ['FAILURE_WINDOW_SECONDS', '0'],
  ];
  for (const [name, value] of refused) {
    test(`${name}=${value} is refused naming ${name}`, () => {
      assert.throws(
        () => readConfig({ [name]: value }),
        (error: unknown) => error instanceof ConfigError && error.variable === name && error.message.startsWith(`${name}:`),
      );
    });
  }

  test('TRUST_PROXY=true stops start-up with one line saying why', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sms-trust-'));
    const result = spawnSync(process.execPath, ['--import', TSX, join(REPO_ROOT, 'src/main.ts')], {
      cwd: dir,
      env: serverEnv({ DATA_DIR: dir, TRUST_PROXY: 'true' }),
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.notEqual(result.status, 0);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /TRUST_PROXY: true is refused: it lets any client choose its own address/);
  });
});
