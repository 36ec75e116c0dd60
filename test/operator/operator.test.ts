/**
 * Issue 14, SPEC §12: the operator listener of a real server with two workers. After known
 * traffic (n auths, m submits delivered, one duplicate, k invalid envelopes) /metrics reports
 * exactly those counts over both processes, no label holds a key or a user id, the OpenAPI
 * document is valid OpenAPI 3.1, and the dashboard in headless Chromium shows the numbers and
 * the chart (a screenshot is saved in test-output/).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { BROWSER_REQUIRED, CHROMIUM, CHROMIUM_ARGS, chromiumInstalled } from '../helpers/chromium.js';
import { clientKey, startEmbedded, TEST_UUID, type EmbeddedFixture } from '../helpers/embedded.js';
import { encryptEnvelope } from '../helpers/encrypt.js';
import { postForm, postMultipart } from '../helpers/http.js';
import { freePort, REPO_ROOT } from '../helpers/server-process.js';
import { waitUntil } from '../helpers/real-backends.js';
import { parsePrometheusText, total } from '../../src/operator/prometheus-text.js';
import { metricNames } from '../../src/operator/metrics.js';

const browserAvailable = chromiumInstalled();
if (!browserAvailable && !BROWSER_REQUIRED) process.stderr.write(`SKIPPED: dashboard in Chromium: ${CHROMIUM} is missing\n`);

const N_AUTHS = 3;
const M_SUBMITS = 4;
const K_INVALID = 2;
const DEVICES = Array.from({ length: N_AUTHS }, (_, i): [string, string] => [`dev-${i}`, `Device ${i}`]);
/** SPEC §9 beside §12: a webhook receiver that takes everything, and a consumer API bookmark. */
const API_TOKEN = 'operator-test-token-0123456789abcdef';
const BOOKMARK = 'site';

/** A webhook receiver that answers 204 to everything and counts what it got. */
async function startReceiver(): Promise<{ url: string; received: () => number; close: () => Promise<void> }> {
  let received = 0;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received += 1;
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received: () => received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('operator listener with WORKERS=2', () => {
  let fx: EmbeddedFixture;
  let admin: string;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  before(async () => {
    receiver = await startReceiver();
    fx = await startEmbedded(DEVICES, {
      WORKERS: '2',
      ADMIN_PORT: String(await freePort()),
      API_TOKENS: `${BOOKMARK}:${API_TOKEN}`,
      WEBHOOK_URL: receiver.url,
      WEBHOOK_SECRET: `whsec_${randomBytes(32).toString('base64')}`,
    });
    assert.ok(fx.server.adminUrl, 'the listening line names the operator listener');
    admin = fx.server.adminUrl;
    const pems: string[] = [];
    for (const [id] of DEVICES) {
      const answer = await postForm(fx.server.url, { key: clientKey(id), status: 'on' });
      assert.equal(answer.body.code, 0);
      pems.push(String(answer.body.message));
    }
    const first = encryptEnvelope(pems[0]!, 'message 0', { enc: 'AES-GCM' });
    for (let i = 0; i < M_SUBMITS; i++) {
      const envelope = i === 0 ? first : encryptEnvelope(pems[i % N_AUTHS]!, `message ${i}`, { enc: 'AES-GCM' });
      // Both body formats, so both workers' parsers see traffic.
      const send = i % 2 === 0 ? postForm : postMultipart;
      const answer = await send(fx.server.url, { key: clientKey(DEVICES[i === 0 ? 0 : i % N_AUTHS]![0]), message: envelope });
      assert.equal(answer.body.message, 'delivered');
    }
    assert.equal((await postForm(fx.server.url, { key: clientKey('dev-0'), message: first })).body.message, 'duplicate');
    for (let i = 0; i < K_INVALID; i++) {
      assert.equal((await postForm(fx.server.url, { key: clientKey('dev-1'), message: `{"not":"an envelope ${i}"}` })).body.message, 'invalid message');
    }
  });

  after(async () => {
    await fx?.close();
    await receiver?.close();
  });

  const scrape = async () => {
    const response = await fetch(`${admin}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
    return response.text();
  };

  test('/metrics counts exactly the traffic sent, over both workers', async () => {
    // A worker counts a request in onResponse, which may run after the client has its answer: on
    // a loaded machine the last count may trail the scrape. So scrape until every request is in
    // (never fewer than sent), then every count must be exact (never more).
    const sent = N_AUTHS + M_SUBMITS + 1 + K_INVALID;
    let text = '';
    await waitUntil(
      async () => total(parsePrometheusText((text = await scrape())), metricNames.requests, {}) >= sent,
      10_000,
      () => `fewer than the ${sent} requests sent were ever counted:\n${text}`,
    );
    const samples = parsePrometheusText(text);
    const value = (name: string, labels: Record<string, string> = {}) => total(samples, name, labels);
    assert.equal(value(metricNames.requests, { op: 'auth', code: '0' }), N_AUTHS);
    assert.equal(value(metricNames.requests, { op: 'submit', code: '0' }), M_SUBMITS);
    assert.equal(value(metricNames.requests, { op: 'submit', code: '1' }), 1);
    assert.equal(value(metricNames.requests, { op: 'submit', code: '3' }), K_INVALID);
    assert.equal(value(metricNames.requests), N_AUTHS + M_SUBMITS + 1 + K_INVALID);
    assert.equal(value(metricNames.messagesStored), M_SUBMITS);
    assert.equal(value(metricNames.duplicates), 1);
    assert.equal(value(metricNames.invalidEnvelopes), K_INVALID);
    assert.equal(value(metricNames.sessionsCreated), N_AUTHS);
    assert.equal(value(metricNames.rateLimited), 0);
    assert.equal(value(`${metricNames.requestDuration}_count`, { op: 'auth' }), N_AUTHS);
    assert.equal(value(`${metricNames.requestDuration}_count`, { op: 'submit' }), M_SUBMITS + 1 + K_INVALID);
    assert.equal(value(metricNames.backendUp, { backend: 'sqlite' }), 1);
    assert.ok(value(metricNames.keyPoolAvailable) >= 0);
    // The webhook and consumer metrics of SPEC §12 exist before their features send values.
    for (const name of [metricNames.webhookDeliveries, metricNames.consumerLag]) assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'));
    assert.match(text, /^process_cpu_user_seconds_total /m, "Node's process metrics");
    assert.match(text, /^nodejs_eventloop_lag_seconds /m);
  });

  test('webhook deliveries and consumer lag reach /metrics (SPEC §9 counted as §12 names them)', async () => {
    // A bookmark after the first stored message: M_SUBMITS - 1 entries are behind it.
    const page = await fetch(`${fx.server.url}/v1/messages?limit=1`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
    const first = ((await page.json()) as { next: string }).next;
    const moved = await fetch(`${fx.server.url}/v1/consumers/${BOOKMARK}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ cursor: first }),
    });
    assert.equal(moved.status, 200);
    const deadline = Date.now() + 30_000;
    let delivered = 0;
    let lag = -1;
    while (Date.now() < deadline) {
      const samples = parsePrometheusText(await scrape());
      delivered = total(samples, metricNames.webhookDeliveries, { result: 'delivered' });
      lag = total(samples, metricNames.consumerLag, { consumer: BOOKMARK });
      if (delivered === M_SUBMITS && lag === M_SUBMITS - 1) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.equal(delivered, M_SUBMITS, 'one delivered attempt per stored message, over both workers');
    assert.equal(receiver.received(), M_SUBMITS);
    assert.equal(lag, M_SUBMITS - 1, 'the bookmark lag, reported once (not summed over the workers)');
  });

  test('no label holds a client key, a user id or a payload', async () => {
    const text = await scrape();
    for (const sample of parsePrometheusText(text)) {
      for (const value of Object.values(sample.labels)) {
        assert.ok(!value.includes(TEST_UUID.slice(0, 8)), `${sample.name} label ${value}`);
        assert.ok(!/dev-\d|message \d|envelope/.test(value), `${sample.name} label ${value}`);
      }
    }
    assert.ok(!text.includes(TEST_UUID));
    const labelNames = new Set(parsePrometheusText(text).filter((s) => s.name.startsWith('secure_message_')).flatMap((s) => Object.keys(s.labels)));
    for (const label of labelNames) assert.ok(['op', 'code', 'backend', 'le', 'result', 'consumer'].includes(label), `label ${label}`);
  });

  test('/openapi.json is a valid OpenAPI 3.1 document of /api with both body formats and every §1 answer; /docs renders it', async () => {
    const response = await fetch(`${admin}/openapi.json`);
    assert.equal(response.status, 200);
    const doc = (await response.json()) as {
      openapi: string;
      paths: Record<string, Record<string, { requestBody: { content: Record<string, unknown> }; responses: Record<string, unknown> }>>;
    };
    const validator = new Validator();
    const result = await validator.validate(doc as never);
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
    assert.equal(validator.version, '3.1');
    const post = doc.paths['/api']?.post;
    assert.ok(post, 'POST /api documented');
    assert.deepEqual(Object.keys(post.requestBody.content).sort(), ['application/x-www-form-urlencoded', 'multipart/form-data']);
    assert.deepEqual(Object.keys(post.responses).sort(), ['200', '400', '405', '413', '415', '429', '503']);
    assert.equal(doc.paths['/api']?.get, undefined, 'the 405 route is not documented as an operation');
    // SPEC §12: the consumer API of §9 is in the same document (API_TOKENS is set here).
    for (const path of ['/v1/messages', '/v1/messages/{id}', '/v1/consumers/{name}', '/v1/sessions/{key}']) {
      assert.ok(doc.paths[path], `${path} documented`);
    }
    const docs = await fetch(`${admin}/docs/`);
    assert.equal(docs.status, 200);
    assert.match(await docs.text(), /swagger-ui/i);
  });

  test('the dashboard in headless Chromium shows the counts and the chart', { skip: !browserAvailable && !BROWSER_REQUIRED ? `${CHROMIUM} is missing` : false }, async () => {
    assert.ok(browserAvailable, `${CHROMIUM} is missing and REQUIRE_BROWSER=1`);
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 1100 } });
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(String(error)));
      await page.goto(`${admin}/`);
      await page.waitForFunction(() => document.body.dataset.loaded === 'true');
      const text = async (id: string) => (await page.textContent(`#${id}`))?.trim();
      assert.equal(await text('requests-total'), String(N_AUTHS + M_SUBMITS + 1 + K_INVALID));
      assert.equal(await text('messages-stored'), String(M_SUBMITS));
      assert.equal(await text('duplicates'), '1');
      assert.equal(await text('invalid-envelopes'), String(K_INVALID));
      assert.equal(await text('sessions-created'), String(N_AUTHS));
      assert.equal(await text('devices-seen'), String(N_AUTHS));
      assert.match((await text('backends')) ?? '', /sqlite\s*up/);
      // The chart: its bars add up to every request answered (by code).
      const bars = await page.$$eval('#chart rect', (rects) => rects.map((r) => ({ code: r.getAttribute('data-code'), count: Number(r.getAttribute('data-count')) })));
      const byCode: Record<string, number> = {};
      for (const bar of bars) byCode[bar.code!] = (byCode[bar.code!] ?? 0) + bar.count;
      assert.deepEqual(byCode, { '0': N_AUTHS + M_SUBMITS, '1': 1, '3': K_INVALID });
      const errorsTable = (await text('errors')) ?? '';
      assert.match(errorsTable, /invalid message/);
      // Never a key, a user id or a payload on the page.
      const html = await page.content();
      assert.ok(!html.includes(TEST_UUID) && !html.includes('message 1') && !html.includes('PUBLIC KEY'));
      const out = join(REPO_ROOT, 'test-output');
      mkdirSync(out, { recursive: true });
      await page.screenshot({ path: join(out, 'dashboard.png'), fullPage: true });
      process.stdout.write(`dashboard screenshot: ${join(out, 'dashboard.png')}\n`);
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  });
});
