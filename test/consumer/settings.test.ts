/** SPEC §9 settings (API_TOKENS, WEBHOOK_*), the token check, and the retry timing, without a server. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { ConfigError, readConfig } from '../../src/config/config.js';
import { backoffDelayMs, MAX_RETRY_DELAY_MS, retryAfterMs } from '../../src/consumer/webhook/backoff.js';
import { signDelivery } from '../../src/consumer/webhook/signature.js';
import { TokenCheck } from '../../src/consumer/tokens.js';

const TOKEN = 'a'.repeat(31) + 'Z';
const SECRET = `whsec_${randomBytes(24).toString('base64')}`;

function configError(env: Record<string, string>): ConfigError {
  try {
    readConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error;
  }
  assert.fail(`accepted ${JSON.stringify(env)}`);
}

describe('API_TOKENS', () => {
  test('off by default; name:token pairs, comma-separated', () => {
    assert.deepEqual(readConfig({}).consumer, { apiTokens: [], webhook: undefined });
    const tokens = readConfig({ API_TOKENS: ` site:${TOKEN} , analytics:${'b-._~+/='.repeat(4)}` }).consumer.apiTokens;
    assert.deepEqual(tokens, [
      { name: 'site', token: TOKEN },
      { name: 'analytics', token: 'b-._~+/='.repeat(4) },
    ]);
    assert.equal(readConfig({ API_TOKENS: `x:${'t'.repeat(256)}` }).consumer.apiTokens.length, 1);
  });

  test('a bad pair stops start-up naming the variable, never printing the token', () => {
    for (const value of [TOKEN, `site:${TOKEN.slice(1)}`, `site:${TOKEN}!`, `:${TOKEN}`, `bad name:${TOKEN}`, `s:${'t'.repeat(257)}`, `a:${TOKEN},a:${TOKEN}x`, `a:${TOKEN},b:${TOKEN}`]) {
      const error = configError({ API_TOKENS: value });
      assert.equal(error.variable, 'API_TOKENS');
      assert.ok(!error.message.includes(TOKEN.slice(0, 31)), error.message);
    }
  });

  test('the check accepts exactly the configured tokens as Bearer', () => {
    const check = new TokenCheck([{ name: 'site', token: TOKEN }, { name: 'other', token: 'o'.repeat(40) }]);
    assert.equal(check.check(`Bearer ${TOKEN}`), 'site');
    assert.equal(check.check(`bearer ${'o'.repeat(40)}`), 'other');
    for (const header of [undefined, '', TOKEN, `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(1)}`, `Basic ${TOKEN}`, 'Bearer ', `Bearer ${TOKEN} extra`]) {
      assert.equal(check.check(header), undefined, String(header));
    }
    assert.equal(new TokenCheck([]).check(`Bearer ${TOKEN}`), undefined);
  });
});

describe('WEBHOOK_*', () => {
  test('defaults with WEBHOOK_URL and WEBHOOK_SECRET', () => {
    const webhook = readConfig({ WEBHOOK_URL: 'https://site.example/hook', WEBHOOK_SECRET: SECRET }).consumer.webhook!;
    assert.equal(webhook.url, 'https://site.example/hook');
    assert.equal(webhook.secret.length, 24);
    assert.equal(webhook.timeoutSeconds, 15);
    assert.equal(webhook.maxAgeSeconds, 86_400);
    assert.equal(webhook.firstRetrySeconds, 10);
  });

  test('bad values stop start-up naming the variable', () => {
    const url = 'http://127.0.0.1:9/hook';
    const cases: Array<[Record<string, string>, string]> = [
      [{ WEBHOOK_URL: url }, 'WEBHOOK_SECRET'],
      [{ WEBHOOK_URL: 'ftp://x/', WEBHOOK_SECRET: SECRET }, 'WEBHOOK_URL'],
      [{ WEBHOOK_URL: 'not a url', WEBHOOK_SECRET: SECRET }, 'WEBHOOK_URL'],
      [{ WEBHOOK_URL: url, WEBHOOK_SECRET: SECRET.slice(6) }, 'WEBHOOK_SECRET'],
      [{ WEBHOOK_URL: url, WEBHOOK_SECRET: 'whsec_c2hvcnQ=' }, 'WEBHOOK_SECRET'],
      [{ WEBHOOK_URL: url, WEBHOOK_SECRET: 'whsec_!!!!' }, 'WEBHOOK_SECRET'],
      [{ WEBHOOK_URL: url, WEBHOOK_SECRET: SECRET, WEBHOOK_TIMEOUT_SECONDS: '0' }, 'WEBHOOK_TIMEOUT_SECONDS'],
      [{ WEBHOOK_URL: url, WEBHOOK_SECRET: SECRET, WEBHOOK_MAX_AGE_SECONDS: 'day' }, 'WEBHOOK_MAX_AGE_SECONDS'],
      [{ WEBHOOK_URL: url, WEBHOOK_SECRET: SECRET, WEBHOOK_FIRST_RETRY_SECONDS: '11' }, 'WEBHOOK_FIRST_RETRY_SECONDS'],
    ];
    for (const [env, variable] of cases) {
      const error = configError(env);
      assert.equal(error.variable, variable, JSON.stringify(env));
      assert.ok(!error.message.includes(SECRET.slice(6, 20)), 'the secret is not printed');
    }
    // fetch() would refuse it on every delivery, with the password in the logged reason.
    const withPassword = configError({ WEBHOOK_URL: 'https://hook:hunter2-pw@site.example/hook', WEBHOOK_SECRET: SECRET });
    assert.equal(withPassword.variable, 'WEBHOOK_URL');
    assert.ok(!withPassword.message.includes('hunter2-pw'), 'the password is not printed');
  });
});

describe('webhook signature and retry timing', () => {
  test('our signature verifies with standardwebhooks (an independent implementation)', () => {
    const key = Buffer.from(SECRET.slice(6), 'base64');
    const timestamp = Math.floor(Date.now() / 1000);
    const body = '{"type":"message.stored","data":{"payload":"é ✓"}}';
    const headers = signDelivery(key, 'a'.repeat(64), timestamp, body);
    assert.match(headers['webhook-signature'], /^v1,[A-Za-z0-9+/]+=*$/);
    assert.deepEqual(new Webhook(SECRET).verify(body, { ...headers }), JSON.parse(body));
    assert.equal(headers['webhook-signature'], new Webhook(SECRET).sign('a'.repeat(64), new Date(timestamp * 1000), body));
  });

  test('backoff: the first retry within WEBHOOK_FIRST_RETRY_SECONDS, doubling with jitter, capped at an hour', () => {
    for (const random of [0, 0.5, 0.999]) {
      const first = backoffDelayMs(1, 10, () => random);
      assert.ok(first >= 5000 && first <= 10_000, String(first));
      assert.ok(backoffDelayMs(2, 10, () => random) >= 10_000);
      assert.ok(backoffDelayMs(40, 10, () => random) <= MAX_RETRY_DELAY_MS);
      assert.ok(backoffDelayMs(40, 10, () => random) >= MAX_RETRY_DELAY_MS / 2);
    }
    const spread = new Set(Array.from({ length: 20 }, () => backoffDelayMs(3, 10)));
    assert.ok(spread.size > 1, 'jittered');
  });

  test('Retry-After in seconds or as an HTTP date, capped at an hour', () => {
    const now = Date.parse('2026-12-01T12:00:00Z');
    assert.equal(retryAfterMs('7', now), 7000);
    assert.equal(retryAfterMs(' 0 ', now), 0);
    assert.equal(retryAfterMs('Tue, 01 Dec 2026 12:00:30 GMT', now), 30_000);
    assert.equal(retryAfterMs('Tue, 01 Dec 2026 11:00:00 GMT', now), 0);
    assert.equal(retryAfterMs('99999', now), MAX_RETRY_DELAY_MS);
    assert.equal(retryAfterMs(null, now), undefined);
    assert.equal(retryAfterMs('soon', now), undefined);
  });
});
