/**
 * Issue 10's settings and logs: start-up refuses an empty or unknown allowlist and a malformed
 * key encryption key (one line naming the variable, never its value); no ConfigError echoes a
 * password (REDIS_URL); the request log's key tag is an HMAC under the installation's secret (a
 * plain hash of a guessed key does not match it) and never carries a query string.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, readConfig } from '../../src/config/config.js';
import { keyTag, LOG_TAG_SECRET_NAME } from '../../src/http/key-tag.js';
import { API_PATH } from '../../src/protocol/request.js';
import { postForm, request } from '../helpers/http.js';
import { REPO_ROOT, serverEnv, TSX, waitForLog } from '../helpers/server-process.js';
import { startHarness, type Harness } from './harness.js';

function configError(env: Record<string, string>): ConfigError {
  try {
    readConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error;
  }
  assert.fail(`accepted ${JSON.stringify(env)}`);
}

describe('issue 10 settings', () => {
  test('defaults: both encryptions and both hashes, limit 10, 30 s timeout, no key encryption', () => {
    const { hardening } = readConfig({});
    assert.deepEqual(hardening.allowedEnc, ['AES-GCM', 'AES-CBC']);
    assert.deepEqual(hardening.allowedOaepHash, ['SHA-256', 'SHA-1']);
    assert.equal(hardening.invalidEnvelopeLimit, 10);
    assert.equal(hardening.requestTimeoutSeconds, 30);
    assert.equal(hardening.keyEncryption, undefined);
  });

  test('an empty or unknown allowlist is refused, naming the variable', () => {
    for (const [name, value] of [['ALLOWED_ENC', ''], ['ALLOWED_ENC', ' , '], ['ALLOWED_ENC', 'AES-CTR'], ['ALLOWED_ENC', 'aes-gcm'], ['ALLOWED_OAEP_HASH', ''], ['ALLOWED_OAEP_HASH', 'SHA-512']] as const) {
      const error = configError({ [name]: value });
      assert.equal(error.variable, name, `${name}=${value}`);
    }
    assert.deepEqual(readConfig({ ALLOWED_ENC: 'AES-GCM' }).hardening.allowedEnc, ['AES-GCM']);
  });

  test('a malformed key encryption key is refused without showing it', () => {
    const secretish = 'c2VjcmV0LXBhc3N3b3JkLW5vdC0zMi1ieXRlcw==';
    for (const env of [{ KEY_ENCRYPTION_KEY: secretish }, { KEY_ENCRYPTION_KEY: `${randomBytes(32).toString('base64')}x` }]) {
      const error = configError(env);
      assert.equal(error.variable, 'KEY_ENCRYPTION_KEY');
      assert.ok(!error.message.includes(env.KEY_ENCRYPTION_KEY));
    }
    assert.equal(configError({ KEY_ENCRYPTION_KEY_PREVIOUS: randomBytes(32).toString('base64') }).variable, 'KEY_ENCRYPTION_KEY_PREVIOUS');
    const kek = randomBytes(32).toString('base64');
    assert.equal(readConfig({ KEY_ENCRYPTION_KEY: kek }).hardening.keyEncryption?.current, kek);
  });

  test('a bad REDIS_URL is refused without echoing its password', () => {
    const error = configError({ REDIS_URL: 'http://admin:hunter2-very-secret@cache:6379' });
    assert.equal(error.variable, 'REDIS_URL');
    assert.ok(!error.message.includes('hunter2'));
  });

  test('the server process stops with one line naming the variable, and no value', () => {
    const result = spawnSync(process.execPath, ['--import', TSX, join(REPO_ROOT, 'src/main.ts')], {
      cwd: mkdtempSync(join(tmpdir(), 'sms-cwd-')),
      env: serverEnv({ ALLOWED_ENC: 'AES-CTR', REDIS_URL: 'redis://u:hunter2@127.0.0.1:1' }),
      encoding: 'utf8',
    });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /^configuration error: ALLOWED_ENC: "AES-CTR" is not one of AES-GCM, AES-CBC\n$/);
  });
});

describe('request log', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness('embedded', ['phone']);
  });
  after(async () => h?.close());

  test('the key tag is an HMAC under the secret kept in the store, not a hash anyone can recompute', async () => {
    const key = h.key('phone');
    await postForm(h.url, { key, status: 'on' });
    const line = await waitForLog(h.server, (entry) => entry.msg === 'request' && entry.op === 'auth');
    const plainHash = createHash('sha256').update(key).digest('hex').slice(0, 12);
    assert.notEqual(line?.key, plainHash, 'a guessed key cannot be confirmed from the log');
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(join(h.dataDir, 'secure-message-server.sqlite'), { readonly: true });
    const secret = (db.prepare('SELECT value FROM installation_secrets WHERE name = ?').get(LOG_TAG_SECRET_NAME) as { value: string }).value;
    db.close();
    assert.equal(line?.key, keyTag(key, secret));
    // The secret is the installation's, not the process's: a restart tags the same key the same way.
    await h.restart();
    await postForm(h.url, { key, status: 'off' });
    const again = await waitForLog(h.server, (entry) => entry.msg === 'request' && entry.op === 'logout');
    assert.equal(again?.key, line?.key);
  });

  test('query strings are never logged', async () => {
    await request(h.url, `${API_PATH}?token=leaky-query-value`, { method: 'POST', body: new URLSearchParams({ key: h.key('phone'), status: 'off' }) });
    await request(h.url, '/nowhere?password=leaky-query-value');
    const line = await waitForLog(h.server, (entry) => entry.msg === 'request' && entry.url === '/nowhere');
    assert.ok(line);
    assert.ok(!h.server.output().includes('leaky-query-value'));
  });
});
