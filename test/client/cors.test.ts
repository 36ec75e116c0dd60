/** CORS_ORIGINS (none by default, a list, or `*`): headers on answers and preflight, from the real server. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, readConfig } from '../../src/config/config.js';
import { clientKey, startEmbedded, type EmbeddedFixture } from '../helpers/embedded.js';
import { request, type Reply } from '../helpers/http.js';

const ALLOWED = 'http://127.0.0.1:5173';
const ALSO_ALLOWED = 'https://devices.example.com';
const OTHER = 'https://evil.example.net';

function post(url: string, origin: string, body = new URLSearchParams({ key: clientKey('phone-01'), status: 'off' })): Promise<Reply> {
  return request(url, '/api', { method: 'POST', headers: { origin }, body });
}

function preflight(url: string, origin: string): Promise<Reply> {
  return request(url, '/api', {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
  });
}

describe('CORS_ORIGINS setting', () => {
  test('exact origins, or * alone; anything else names the variable', () => {
    assert.deepEqual(readConfig({}).corsOrigins, []);
    assert.deepEqual(readConfig({ CORS_ORIGINS: `${ALLOWED}, ${ALSO_ALLOWED}` }).corsOrigins, [ALLOWED, ALSO_ALLOWED]);
    assert.deepEqual(readConfig({ CORS_ORIGINS: '*' }).corsOrigins, ['*']);
    for (const bad of ['https://a.example/', 'https://a.example/path', 'a.example', 'ftp://a.example', `*,${ALLOWED}`]) {
      assert.throws(() => readConfig({ CORS_ORIGINS: bad }), (e: unknown) => e instanceof ConfigError && e.variable === 'CORS_ORIGINS', bad);
    }
  });
});

describe('CORS on the live server', () => {
  let listed: EmbeddedFixture;
  let any: EmbeddedFixture;
  let none: EmbeddedFixture;
  before(async () => {
    [listed, any, none] = await Promise.all([
      startEmbedded([['phone-01', 'Phone']], { WORKERS: '1', CORS_ORIGINS: `${ALLOWED},${ALSO_ALLOWED}` }),
      startEmbedded([['phone-01', 'Phone']], { WORKERS: '1', CORS_ORIGINS: '*' }),
      startEmbedded([['phone-01', 'Phone']], { WORKERS: '1' }),
    ]);
  });
  after(async () => Promise.all([listed.close(), any.close(), none.close()]));

  test('an allowed origin gets its own origin back, Vary: Origin, and Retry-After exposed', async () => {
    for (const origin of [ALLOWED, ALSO_ALLOWED]) {
      const reply = await post(listed.server.url, origin);
      assert.equal(reply.status, 200);
      assert.equal(reply.headers.get('access-control-allow-origin'), origin);
      assert.match(reply.headers.get('vary') ?? '', /origin/i);
      assert.match(reply.headers.get('access-control-expose-headers') ?? '', /retry-after/i);
      assert.equal(reply.headers.get('access-control-allow-credentials'), null, 'the protocol has no cookies');
    }
  });

  test('preflight from an allowed origin: 204 allowing POST, cached for an hour', async () => {
    const reply = await preflight(listed.server.url, ALLOWED);
    assert.equal(reply.status, 204);
    assert.equal(reply.headers.get('access-control-allow-origin'), ALLOWED);
    assert.match(reply.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.match(reply.headers.get('access-control-allow-headers') ?? '', /content-type/i);
    assert.equal(reply.headers.get('access-control-max-age'), '3600');
  });

  test('error answers carry the headers too, so a browser can read them', async () => {
    const bad = await post(listed.server.url, ALLOWED, new URLSearchParams({ status: 'on' }));
    assert.equal(bad.status, 400);
    assert.equal(bad.headers.get('access-control-allow-origin'), ALLOWED);
    const big = await post(listed.server.url, ALLOWED, new URLSearchParams({ key: 'k', message: 'x'.repeat(300_000) }));
    assert.equal(big.status, 413);
    assert.equal(big.headers.get('access-control-allow-origin'), ALLOWED);
  });

  test('another origin gets no CORS headers, on answers or preflight', async () => {
    const reply = await post(listed.server.url, OTHER);
    assert.equal(reply.status, 200, 'the server still answers; the browser withholds it from the page');
    assert.equal(reply.headers.get('access-control-allow-origin'), null);
    const pre = await preflight(listed.server.url, OTHER);
    assert.equal(pre.headers.get('access-control-allow-origin'), null);
  });

  test('CORS_ORIGINS=* allows any origin', async () => {
    assert.equal((await post(any.server.url, OTHER)).headers.get('access-control-allow-origin'), '*');
    const pre = await preflight(any.server.url, OTHER);
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), '*');
  });

  test('by default no origin is allowed and there is no preflight route', async () => {
    const reply = await post(none.server.url, ALLOWED);
    assert.equal(reply.status, 200);
    assert.equal(reply.headers.get('access-control-allow-origin'), null);
    const pre = await preflight(none.server.url, ALLOWED);
    assert.notEqual(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), null);
    assert.match(pre.headers.get('content-type') ?? '', /^application\/json/);
  });
});
