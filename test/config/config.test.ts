/** SPEC §8: settings, defaults, and one clear line naming a bad variable. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ConfigError, loadEnv, readConfig } from '../../src/config/config.js';
import { REPO_ROOT, serverEnv, TSX } from '../helpers/server-process.js';

describe('readConfig', () => {
  test('defaults are those of SPEC §7 and §8, on the embedded store', () => {
    const config = readConfig({});
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.port, 8000);
    assert.equal(config.mysql, undefined);
    assert.equal(config.redis, undefined);
    assert.equal(config.tablePrefix, 'wp_');
    assert.equal(config.wpUuidMetaKey, 'uuid');
    assert.equal(config.wpDevicesMetaKey, 'devices');
    assert.equal(config.userIdLength, 36);
    assert.equal(config.sessionKeyBits, 2048);
    assert.equal(config.sessionTtlSeconds, 604800);
    assert.equal(config.messageTtlSeconds, 0);
    assert.equal(config.maxBodyBytes, 262144);
    assert.equal(config.minuteWindow, 0);
    assert.match(config.dataDir, /\/data$/);
  });

  test('any Redis setting switches the store to Redis, with the original defaults', () => {
    for (const name of ['REDIS_HOST', 'REDIS_PORT', 'REDIS_PASSWORD', 'REDIS_URL', 'REDIS_MAIN_DB', 'REDIS_AUTH_DB', 'REDIS_KEY_PREFIX']) {
      const value = name === 'REDIS_URL' ? 'redis://127.0.0.1:1' : name.endsWith('_DB') ? (name === 'REDIS_MAIN_DB' ? '3' : '4') : name === 'REDIS_PORT' ? '7000' : 'x';
      const config = readConfig({ [name]: value });
      assert.ok(config.redis, name);
    }
    const redis = readConfig({ REDIS_HOST: 'cache' }).redis!;
    assert.deepEqual({ ...redis }, { url: undefined, host: 'cache', port: 6581, password: undefined, mainDb: 1, authDb: 2, keyPrefix: '' });
  });

  test('DB_HOST switches the directory to MySQL and needs DB_NAME and DB_USER', () => {
    const mysql = readConfig({ DB_HOST: 'db', DB_NAME: 'wordpress', DB_USER: 'wp', DB_PASSWORD: 'pw' }).mysql;
    assert.deepEqual(mysql, { host: 'db', port: 3306, database: 'wordpress', user: 'wp', password: 'pw' });
    assert.throws(() => readConfig({ DB_HOST: 'db', DB_USER: 'wp' }), (e: unknown) => e instanceof ConfigError && e.variable === 'DB_NAME');
  });

  test('an empty value counts as unset', () => {
    assert.equal(readConfig({ REDIS_PASSWORD: '', PORT: '' }).redis, undefined);
    assert.equal(readConfig({ PORT: '' }).port, 8000);
    const blanks = readConfig({ LOG_LEVEL: '', DB_TABLE_PREFIX: '', WP_UUID_META_KEY: '' });
    assert.equal(blanks.logLevel, 'info');
    assert.equal(blanks.tablePrefix, 'wp_');
    assert.equal(blanks.wpUuidMetaKey, 'uuid');
  });

  const bad: Array<[string, string]> = [
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['SESSION_KEY_BITS', '1024'],
    ['SESSION_TTL_SECONDS', '-1'],
    ['MAX_BODY_BYTES', '1.5'],
    ['MINUTE_WINDOW', 'soon'],
    ['USER_ID_LENGTH', '0'],
    ['DB_TABLE_PREFIX', 'wp; DROP TABLE x'],
    ['REDIS_URL', 'http://x'],
    ['REDIS_MAIN_DB', '16'],
    ['LOG_LEVEL', 'loud'],
    ['TRUST_PROXY', 'perhaps'],
  ];
  for (const [name, value] of bad) {
    test(`${name}=${value} is refused naming ${name}`, () => {
      assert.throws(
        () => readConfig({ [name]: value }),
        (error: unknown) => error instanceof ConfigError && error.variable === name && error.message.startsWith(`${name}:`),
      );
    });
  }

  test('.env in the working directory is read, and the real environment wins over it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sms-env-'));
    writeFileSync(join(dir, '.env'), 'PORT=9001\nMINUTE_WINDOW=3\n');
    const config = readConfig(loadEnv(dir, { MINUTE_WINDOW: '7' }));
    assert.equal(config.port, 9001);
    assert.equal(config.minuteWindow, 7);
  });
});

describe('start-up with a bad setting', () => {
  test('the server stops at once with one line naming the variable', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sms-badcfg-'));
    const result = spawnSync(process.execPath, ['--import', TSX, join(REPO_ROOT, 'src/main.ts')], {
      cwd: dir,
      env: serverEnv({ DATA_DIR: dir, SESSION_KEY_BITS: '1000' }),
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.notEqual(result.status, 0);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /SESSION_KEY_BITS/);
    assert.equal(result.stdout, '');
  });
});
