/**
 * The browser build in headless Chromium: a page on one loopback origin loads dist's browser
 * bundle, authenticates against the live server on another origin (CORS_ORIGINS = the page's),
 * and sends a GCM and a CBC message; the test finds both in the store.
 * Missing Chromium: a failure when REQUIRE_BROWSER=1 (CI), otherwise a loud skip.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { clientKey, startEmbedded, TEST_UUID, type EmbeddedFixture } from '../helpers/embedded.js';
import { BROWSER_REQUIRED, CHROMIUM, CHROMIUM_ARGS, chromiumInstalled } from '../helpers/chromium.js';
import { REPO_ROOT } from '../helpers/server-process.js';

const REQUIRED = BROWSER_REQUIRED;
const available = chromiumInstalled();

if (!available) {
  if (!REQUIRED) process.stderr.write(`SKIPPED: browser tests: ${CHROMIUM} is missing (Debian: apt-get install chromium; REQUIRE_BROWSER=1 makes this a failure)\n`);
}

function run(command: string, args: string[]): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('close', (status) => resolve({ status, output }));
  });
}

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>device</title>
<link rel="icon" href="data:,">
<script src="/browser.global.js"></script>
<script type="module">
  import * as client from '/browser.js';
  window.client = client;
  window.ready = true;
</script>`;

describe('browser client in headless Chromium', { skip: !available && !REQUIRED ? `${CHROMIUM} is missing` : false }, () => {
  let fx: EmbeddedFixture;
  let pages: Server;
  let pageOrigin: string;
  let build: string;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  before(async () => {
    assert.ok(available, `${CHROMIUM} is missing and REQUIRE_BROWSER=1`);
    build = mkdtempSync(join(tmpdir(), 'sms-browser-'));
    const files: Record<string, [string, () => string]> = {
      '/': ['text/html; charset=utf-8', () => PAGE],
      '/browser.js': ['text/javascript', () => readFileSync(join(build, 'client/browser.js'), 'utf8')],
      '/browser.global.js': ['text/javascript', () => readFileSync(join(build, 'client/browser.global.js'), 'utf8')],
    };
    pages = createServer((request, response) => {
      const file = files[new URL(request.url ?? '/', 'http://x').pathname];
      if (file === undefined) return void response.writeHead(404).end();
      response.writeHead(200, { 'content-type': file[0] }).end(file[1]());
    });
    await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
    pageOrigin = `http://127.0.0.1:${(pages.address() as AddressInfo).port}`;

    const { chromium } = await import('playwright-core');
    // The real build step, into a temporary folder (the page loads what a consumer would), alongside the server and the browser.
    const [built] = await Promise.all([
      run(process.execPath, [join(REPO_ROOT, 'scripts/build-client.mjs'), '--out', build]),
      startEmbedded([['browser-1', 'Browser']], { WORKERS: '1', CORS_ORIGINS: pageOrigin }).then((started) => (fx = started)),
      chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS }).then((launched) => (browser = launched)),
    ]);
    assert.equal(built.status, 0, built.output);
    assert.notEqual(new URL(fx.server.url).origin, pageOrigin, 'two origins');
    page = await browser.newPage();
    page.on('pageerror', (error) => pageErrors.push(String(error)));
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text());
    });
    await page.goto(`${pageOrigin}/`);
    await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
  });

  after(async () => {
    await browser?.close();
    await new Promise((resolve) => pages?.close(resolve));
    await fx?.close();
    if (build !== undefined) rmSync(build, { recursive: true, force: true });
  });

  test('the bundle holds no Node module', () => {
    const bundle = readFileSync(join(build, 'client/browser.js'), 'utf8');
    assert.doesNotMatch(bundle, /from\s*["']node:|require\(["']node:|\bBuffer\./);
  });

  test('the page authenticates across origins, sends a GCM and a CBC message, and both are stored', async () => {
    const outcome = await page.evaluate(
      async ({ server, key }) => {
        type Client = typeof import('../../src/client/index.js');
        const { SecureMessageClient } = (window as unknown as { client: Client }).client;
        const client = new SecureMessageClient({ server, key });
        const session = await client.auth();
        const gcm = await client.send(JSON.stringify({ from: 'chromium', enc: 'gcm', text: 'Grüße ✓' }));
        const cbc = await client.send(JSON.stringify({ from: 'chromium', enc: 'cbc' }), { enc: 'AES-CBC' });
        return { name: session.name, pem: session.publicKey.slice(0, 26), gcm, cbc, secure: window.isSecureContext, origin: location.origin };
      },
      { server: fx.server.url, key: clientKey('browser-1') },
    );
    assert.equal(outcome.origin, pageOrigin);
    assert.equal(outcome.secure, true);
    assert.equal(outcome.name, 'Browser');
    assert.equal(outcome.pem, '-----BEGIN PUBLIC KEY-----');
    const gcm = await fx.messages.get(outcome.gcm.id);
    const cbc = await fx.messages.get(outcome.cbc.id);
    assert.equal(gcm?.payload, JSON.stringify({ from: 'chromium', enc: 'gcm', text: 'Grüße ✓' }));
    assert.equal(cbc?.payload, JSON.stringify({ from: 'chromium', enc: 'cbc' }));
    assert.equal(gcm?.user_id, TEST_UUID);
    assert.equal(gcm?.device_id, 'browser-1');
    assert.deepEqual(pageErrors, []);
  });

  test('the classic-script build exposes the same client as the global SecureMessage, and logout works from the page', async () => {
    const outcome = await page.evaluate(
      async ({ server, key }) => {
        type Client = typeof import('../../src/client/index.js');
        const { SecureMessageClient } = (window as unknown as { SecureMessage: Client }).SecureMessage;
        const client = new SecureMessageClient({ server, key });
        // The session of the previous test is held by another object: this one meets "already auth" and recovers.
        const sent = await client.send('from the global build');
        return { id: sent.id, loggedOut: await client.logout() };
      },
      { server: fx.server.url, key: clientKey('browser-1') },
    );
    assert.equal((await fx.messages.get(outcome.id))?.payload, 'from the global build');
    assert.equal(outcome.loggedOut, true);
    assert.equal(await fx.sessions.get(clientKey('browser-1')), null);
  });

  test('a page on an origin not in CORS_ORIGINS cannot read answers: NetworkError', async () => {
    // localhost is another origin than 127.0.0.1 for the same page server.
    const other = await browser.newPage();
    try {
      await other.goto(`http://localhost:${new URL(pageOrigin).port}/`);
      await other.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
      const code = await other.evaluate(
        async ({ server, key }) => {
          type Client = typeof import('../../src/client/index.js');
          const { SecureMessageClient } = (window as unknown as { client: Client }).client;
          const client = new SecureMessageClient({ server, key, retry: { attempts: 1 } });
          try {
            await client.logout();
            return 'no error';
          } catch (error) {
            return (error as { code?: string }).code;
          }
        },
        { server: fx.server.url, key: clientKey('browser-1') },
      );
      assert.equal(code, 'NETWORK');
    } finally {
      await other.close();
    }
  });
});
