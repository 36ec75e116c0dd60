/**
 * SPEC §9 signed webhooks against a local receiver (a Node HTTP server) that verifies every
 * delivery with the `standardwebhooks` package, an implementation independent of ours: every
 * message arrives, once, in order per device (WORKERS=2 share one lease); 500 three times then 200
 * gets there with growing gaps; Retry-After is honoured; a receiver down across a server restart
 * gets everything once it is up; a wrong secret or a tampered body fails verification; an
 * undeliverable message is given up after WEBHOOK_MAX_AGE_SECONDS, logged at error level.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { Message } from '../../src/protocol/answers.js';
import { skipWithoutRedisCluster } from '../helpers/redis-cluster.js';
import { skipWithoutRedis } from '../helpers/redis-server.js';
import { waitForLog } from '../helpers/server-process.js';
import { startConsumerFixture, type ConsumerFixture, type StoreKind } from '../helpers/consumer.js';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;

interface Delivery {
  at: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** What standardwebhooks made of it with the right secret. */
  payload: { type: string; timestamp: string; data: Record<string, unknown> };
}

/** Answers each delivery as `respond` says, after verifying it; keeps every attempt. */
class Receiver {
  readonly attempts: Delivery[] = [];
  respond: (delivery: Delivery) => { status: number; headers?: Record<string, string> } = () => ({ status: 204 });
  private server: Server | undefined;
  port = 0;

  async start(): Promise<void> {
    const verifier = new Webhook(SECRET);
    this.server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        let payload: Delivery['payload'];
        try {
          payload = verifier.verify(body, req.headers as Record<string, string>) as Delivery['payload'];
        } catch {
          res.writeHead(400).end();
          return;
        }
        const delivery: Delivery = { at: Date.now(), headers: req.headers, body, payload };
        this.attempts.push(delivery);
        const answer = this.respond(delivery);
        res.writeHead(answer.status, answer.headers).end();
      });
    });
    // Started again on its port after a stop: should someone have taken it meanwhile, fail, not hang.
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.port, '127.0.0.1', resolve);
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server?.close(() => resolve());
      this.server?.closeAllConnections();
    });
  }

  /** Deliveries answered 2xx, by message id. */
  deliveredIds(): string[] {
    const ok: string[] = [];
    for (const attempt of this.attempts) if (this.respondedOk.has(attempt)) ok.push(String(attempt.headers['webhook-id']));
    return ok;
  }

  readonly respondedOk = new Set<Delivery>();
}

async function until(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`never happened: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const skips: Record<Exclude<StoreKind, 'sentinel'>, string | false> = {
  sqlite: false,
  redis: skipWithoutRedis('the Redis webhook suite'),
  'redis-cluster': skipWithoutRedisCluster('the Redis Cluster webhook suite'),
};

for (const store of ['sqlite', 'redis', 'redis-cluster'] as Array<Exclude<StoreKind, 'sentinel'>>) {
  describe(`webhooks on ${store}, WORKERS=2`, { skip: skips[store] }, () => {
    let fx: ConsumerFixture;
    const receiver = new Receiver();
    let answerWith: (delivery: Delivery) => { status: number; headers?: Record<string, string> };
    const ok = () => ({ status: 200 });

    before(async () => {
      await receiver.start();
      answerWith = ok;
      receiver.respond = (delivery) => {
        const answer = answerWith(delivery);
        if (answer.status >= 200 && answer.status < 300) receiver.respondedOk.add(delivery);
        return answer;
      };
      fx = await startConsumerFixture({
        store,
        devices: 3,
        env: { WORKERS: '2', WEBHOOK_URL: `http://127.0.0.1:${receiver.port}/hook`, WEBHOOK_SECRET: SECRET, WEBHOOK_FIRST_RETRY_SECONDS: '1' },
      });
    });
    after(async () => {
      await fx?.close();
      await receiver.stop();
    });

    test('every message arrives, verified, once, in log order per device', async () => {
      const sent: Array<{ id: string; device: string; n: number }> = [];
      await Promise.all(
        fx.deviceIds.map(async (device) => {
          for (let n = 0; n < 10; n++) {
            const reply = await fx.submit(device, JSON.stringify({ device, n }), n);
            assert.equal(reply.message, Message.delivered);
            sent.push({ id: String(reply.id), device, n });
          }
        }),
      );
      await until(() => new Set(receiver.deliveredIds()).size >= sent.length, 'all 30 delivered');
      await new Promise((resolve) => setTimeout(resolve, 500));
      const ids = receiver.deliveredIds();
      assert.deepEqual(new Set(ids), new Set(sent.map((s) => s.id)));
      assert.equal(ids.length, sent.length, 'no message delivered twice');
      for (const attempt of receiver.attempts) {
        assert.equal(attempt.payload.type, 'message.stored');
        assert.equal(attempt.payload.data.id, attempt.headers['webhook-id']);
        assert.match(attempt.payload.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        assert.equal(attempt.headers['content-type'], 'application/json');
      }
      for (const device of fx.deviceIds) {
        const order = receiver.attempts
          .filter((a) => a.payload.data.device_id === device)
          .map((a) => (JSON.parse(String(a.payload.data.payload)) as { n: number }).n);
        assert.deepEqual(order, [...order].sort((a, b) => a - b), `${device}'s messages in the order stored`);
      }
    });

    test('a receiver answering 500 three times, then 200, gets the message; retries back off', async () => {
      const failures = new Map<string, number>();
      answerWith = (delivery) => {
        if (!String(delivery.payload.data.payload).includes('flaky')) return ok();
        const id = String(delivery.headers['webhook-id']);
        const seen = failures.get(id) ?? 0;
        failures.set(id, seen + 1);
        return seen < 3 ? { status: 500 } : ok();
      };
      const reply = await fx.submit('dev-01', 'flaky');
      await until(() => receiver.deliveredIds().includes(String(reply.id)), 'the flaky message delivered');
      const tries = receiver.attempts.filter((a) => a.headers['webhook-id'] === reply.id);
      assert.equal(tries.length, 4);
      const gaps = tries.slice(1).map((t, i) => t.at - tries[i]!.at);
      assert.ok(gaps[0]! < 10_000, `first retry after ${gaps[0]} ms`);
      // WEBHOOK_FIRST_RETRY_SECONDS=1: the third retry waits 2 to 4 s, more than the first's 0.5 to 1 s.
      assert.ok(gaps[2]! >= 1500, `gaps ${gaps.join(', ')} ms grow`);
      answerWith = ok;
    });

    test('Retry-After is honoured', async () => {
      let refused = false;
      answerWith = (delivery) => {
        if (String(delivery.payload.data.payload) !== 'later' || refused) return ok();
        refused = true;
        return { status: 503, headers: { 'retry-after': '3' } };
      };
      const reply = await fx.submit('dev-02', 'later');
      await until(() => receiver.deliveredIds().includes(String(reply.id)), 'the deferred message delivered');
      const tries = receiver.attempts.filter((a) => a.headers['webhook-id'] === reply.id);
      assert.equal(tries.length, 2);
      assert.ok(tries[1]!.at - tries[0]!.at >= 2800, `retried after ${tries[1]!.at - tries[0]!.at} ms, asked 3 s`);
      answerWith = ok;
    });

    test('a receiver down across a server restart gets everything once it is up', async () => {
      await receiver.stop();
      const ids: string[] = [];
      for (let n = 0; n < 5; n++) ids.push(String((await fx.submit('dev-03', `while down ${n}`, 500 + n)).id));
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await fx.restart();
      await receiver.start();
      await until(() => ids.every((id) => receiver.deliveredIds().includes(id)), 'the five messages delivered after the restart');
      const order = receiver.attempts
        .filter((a) => ids.includes(String(a.headers['webhook-id'])))
        .map((a) => String(a.headers['webhook-id']));
      assert.deepEqual(order, ids, 'in order, each once');
    });

    test('verification fails with another secret, or with the body or timestamp changed', () => {
      const delivery = receiver.attempts[0]!;
      const headers = delivery.headers as Record<string, string>;
      const otherSecret = new Webhook(`whsec_${randomBytes(32).toString('base64')}`);
      assert.throws(() => otherSecret.verify(delivery.body, headers), WebhookVerificationError);
      const right = new Webhook(SECRET);
      assert.throws(() => right.verify(delivery.body.replace('"message.stored"', '"message.Stored"'), headers), WebhookVerificationError);
      const shifted = { ...headers, 'webhook-timestamp': String(Number(headers['webhook-timestamp']) + 1) };
      assert.throws(() => right.verify(delivery.body, shifted), WebhookVerificationError);
      assert.doesNotThrow(() => right.verify(delivery.body, headers));
    });

    test('a message the receiver never takes is given up after WEBHOOK_MAX_AGE_SECONDS, logged, and the device moves on', async () => {
      await fx.restart({ WEBHOOK_MAX_AGE_SECONDS: '3' });
      answerWith = (delivery) => (String(delivery.payload.data.payload) === 'poison' ? { status: 500 } : ok());
      const poison = await fx.submit('dev-01', 'poison');
      const next = await fx.submit('dev-01', 'after the poison');
      const line = await waitForLog(fx.server, (l) => l.msg?.toString().startsWith('webhook delivery given up') === true && l.webhook === poison.id, 20_000);
      assert.ok(line !== undefined, 'give-up logged');
      assert.equal(line.level, 50, 'at error level');
      assert.ok(!JSON.stringify(line).includes('poison'), 'no payload in the log');
      await until(() => receiver.deliveredIds().includes(String(next.id)), 'the next message of the device delivered');
      assert.equal((await fx.api(`/v1/messages/${poison.id}`)).status, 200, 'still readable through the API');
      answerWith = ok;
    });
  });
}
