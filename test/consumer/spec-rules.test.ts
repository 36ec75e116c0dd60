/**
 * SPEC §9 rules the audit (docs/SPEC-COVERAGE.md) found proven only below HTTP or not at all:
 * retention of records and their log entries through the consumer API, and a webhook receiver
 * that hangs past WEBHOOK_TIMEOUT_SECONDS. Real server processes on the embedded store.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { startConsumerFixture, type ConsumerFixture } from '../helpers/consumer.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`never happened: ${what}`);
    await sleep(50);
  }
}

describe('SPEC §9 retention: MESSAGE_TTL_SECONDS through the consumer API', () => {
  let fx: ConsumerFixture;
  before(async () => {
    fx = await startConsumerFixture({ store: 'sqlite', env: { MESSAGE_TTL_SECONDS: '2' } });
  });
  after(async () => fx?.close());

  test('an expired record is 404 by id and skipped by the log; later records are read as usual', async () => {
    const early = await fx.submit('dev-01', 'expires');
    assert.equal(early.message, 'delivered');
    const before = await fx.api('/v1/messages');
    assert.deepEqual((before.body.messages as Array<{ record: { id: string } }>).map((m) => m.record.id), [early.id]);
    await sleep(3500);
    const late = await fx.submit('dev-02', 'stays');
    assert.equal(late.message, 'delivered');

    const gone = await fx.api(`/v1/messages/${String(early.id)}`);
    assert.equal(gone.status, 404, gone.text);
    assert.deepEqual(gone.body, { message: 'not found', code: 2 });
    const page = await fx.api('/v1/messages');
    assert.equal(page.status, 200, page.text);
    assert.deepEqual((page.body.messages as Array<{ record: { id: string } }>).map((m) => m.record.id), [late.id]);
    // A consumer that kept the cursor of the expired entry resumes after it (the server made that
    // cursor, so it is not an "unknown cursor"), and gets exactly what was stored after it.
    const resumed = await fx.api(`/v1/messages?after=${encodeURIComponent(String(before.body.next))}`);
    assert.equal(resumed.status, 200, resumed.text);
    assert.deepEqual(resumed.body.messages, page.body.messages);
  });
});

describe('SPEC §9 webhooks: a receiver that hangs past WEBHOOK_TIMEOUT_SECONDS is retried', () => {
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const verifier = new Webhook(secret);
  const hung: ServerResponse[] = [];
  const attempts: Array<{ id: string; answered: boolean }> = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      verifier.verify(body, req.headers as Record<string, string>);
      const id = String(req.headers['webhook-id']);
      // The first attempt of each message never gets an answer; later ones get 204.
      const first = !attempts.some((attempt) => attempt.id === id);
      attempts.push({ id, answered: !first });
      if (first) hung.push(res);
      else res.writeHead(204).end();
    });
  });
  let fx: ConsumerFixture;

  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    fx = await startConsumerFixture({
      store: 'sqlite',
      env: { WEBHOOK_URL: `http://127.0.0.1:${port}/hook`, WEBHOOK_SECRET: secret, WEBHOOK_TIMEOUT_SECONDS: '1', WEBHOOK_FIRST_RETRY_SECONDS: '1' },
    });
  });
  after(async () => {
    await fx?.close();
    for (const res of hung) res.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test('the hung attempt is given up at the timeout and the message is delivered by a retry, once', async () => {
    const reply = await fx.submit('dev-01', 'patience');
    assert.equal(reply.message, 'delivered');
    const id = String(reply.id);
    await until(() => attempts.some((attempt) => attempt.id === id && attempt.answered), 'a retry after the hung attempt');
    await sleep(1500);
    const mine = attempts.filter((attempt) => attempt.id === id);
    assert.equal(mine[0]?.answered, false, 'the first attempt hung');
    assert.equal(mine.filter((attempt) => attempt.answered).length, 1, 'delivered once, not again after the success');
    // The message is still readable through the API, as every stored message is.
    assert.equal((await fx.api(`/v1/messages/${id}`)).status, 200);
  });
});
