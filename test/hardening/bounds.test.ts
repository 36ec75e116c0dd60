/**
 * Issue 10's timeouts and bounds, against the real server: REQUEST_TIMEOUT_SECONDS cuts off a
 * client that trickles its headers or its body (raw sockets); 50 concurrent auths for one client
 * key cost one key pair; a flood of auths beyond KEY_WAIT_LIMIT, and of MySQL requests beyond
 * DB_QUEUE_LIMIT, gets 503 with Retry-After and no crash; a devices value over
 * MAX_DEVICE_LIST_BYTES is not parsed (logged, no devices).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { answers, Code } from '../../src/protocol/answers.js';
import { TEST_UUID } from '../helpers/embedded.js';
import { postForm, request, type Reply } from '../helpers/http.js';
import { waitForLog } from '../helpers/server-process.js';
import { mariadbOf, skipFor, startHarness, type Harness } from './harness.js';

/** Opens a raw connection to the server and reports when (ms after opening) the server closed it, and what it said. */
function rawClient(url: string): { socket: Socket; closed: Promise<{ afterMs: number; received: string }> } {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port) });
  const opened = Date.now();
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
  socket.on('error', () => undefined);
  const closed = new Promise<{ afterMs: number; received: string }>((resolve) => socket.once('close', () => resolve({ afterMs: Date.now() - opened, received })));
  return { socket, closed };
}

describe('REQUEST_TIMEOUT_SECONDS', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness('embedded', ['phone'], { REQUEST_TIMEOUT_SECONDS: '2' });
  });
  after(async () => h?.close());

  test('a client that sends its body a byte at a time is cut off after the timeout', async () => {
    const { socket, closed } = rawClient(h.url);
    const body = `key=${encodeURIComponent(h.key('phone'))}&status=on`;
    socket.write(`POST /api HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length + 1000}\r\n\r\n`);
    let sent = 0;
    const trickle = setInterval(() => {
      if (!socket.destroyed) socket.write(body[sent++ % body.length]!);
    }, 300);
    try {
      const { afterMs, received } = await closed;
      // Generous bounds (a shared machine): not before the timeout, and long before the client would be done (~6 minutes).
      assert.ok(afterMs >= 1500, `closed after ${afterMs} ms`);
      assert.ok(afterMs < 20_000, `closed after ${afterMs} ms`);
      assert.doesNotMatch(received, /HTTP\/1\.1 200/);
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
    assert.equal((await request(h.url, '/healthz')).status, 200);
  });

  test('a client that trickles its headers is cut off too', async () => {
    const { socket, closed } = rawClient(h.url);
    socket.write('POST /api HTTP/1.1\r\nHost: x\r\n');
    const trickle = setInterval(() => {
      if (!socket.destroyed) socket.write('X-Slow: a\r\n');
    }, 300);
    try {
      const { afterMs } = await closed;
      assert.ok(afterMs >= 1500 && afterMs < 20_000, `closed after ${afterMs} ms`);
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
  });
});

describe('auth bursts', () => {
  let h: Harness;
  const devices = Array.from({ length: 40 }, (_, i) => `flood-${i}`);
  before(async () => {
    // No pool, so every take is a real on-demand generation; debug logs count the takes.
    h = await startHarness('embedded', ['burst', ...devices], { KEY_POOL_SIZE: '0', LOG_LEVEL: 'debug', KEY_WAIT_LIMIT: '2' });
  });
  after(async () => h?.close());

  test('50 concurrent auths for one client key cause one key generation: one session, 49 "already auth"', async () => {
    const takes = () => h.server.logs.filter((line) => line.msg === 'session key pair taken').length;
    const auths = () => h.server.logs.filter((line) => line.msg === 'request' && line.op === 'auth').length;
    const before = takes();
    const authsBefore = auths();
    const replies = await Promise.all(Array.from({ length: 50 }, () => postForm(h.url, { key: h.key('burst'), status: 'on' })));
    const codes = replies.map((r) => r.body.code);
    assert.equal(codes.filter((c) => c === Code.ok).length, 1, JSON.stringify(codes));
    assert.equal(codes.filter((c) => c === Code.already).length, 49);
    // The lines come through a pipe after the answers: once all 50 request lines are in, so is
    // every "taken" line (each is written before its request's line).
    await waitForLog(h.server, () => auths() - authsBefore >= 50, 15_000);
    assert.equal(auths() - authsBefore, 50, 'every auth of the burst logged');
    assert.equal(takes() - before, 1, 'one key pair taken for the whole burst');
  });

  test('a flood beyond KEY_WAIT_LIMIT gets 503 with Retry-After, not a crash; every device gets in afterwards', async () => {
    const replies: Reply[] = await Promise.all(devices.map((device) => postForm(h.url, { key: h.key(device), status: 'on' })));
    const refused = replies.filter((r) => r.status === 503);
    const served = replies.filter((r) => r.body.code === Code.ok);
    assert.ok(refused.length > 0, 'some auths were refused at the bound');
    assert.equal(refused.length + served.length, devices.length, JSON.stringify(replies.map((r) => r.status)));
    for (const reply of refused) {
      assert.deepEqual(reply.body, answers.unavailable().body);
      assert.equal(reply.headers.get('retry-after'), String(answers.unavailable().retryAfter));
    }
    assert.ok(h.server.logs.some((line) => line.msg === 'too many auths waiting for a session key: answered 503'));
    assert.equal(h.server.child.exitCode, null);
    // Nothing was half done: a refused device simply authenticates when it retries.
    for (const [i, reply] of replies.entries()) {
      if (reply.status !== 503) continue;
      const retry = await postForm(h.url, { key: h.key(devices[i]!), status: 'on' });
      assert.equal(retry.body.code, Code.ok, retry.text);
    }
  });
});

describe('MAX_DEVICE_LIST_BYTES', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness('embedded', [], { MAX_DEVICE_LIST_BYTES: '2048' });
  });
  after(async () => h?.close());

  test('a devices value over the cap is not parsed: logged, and it holds no devices', async () => {
    for (let i = 0; i < 60; i++) await h.directory.directory.addDevice(TEST_UUID, `device-${i}`, `A device with a long name number ${i}`);
    const wpUserId = (await h.directory.directory.findUser(TEST_UUID))!;
    const value = await h.directory.devicesOf(wpUserId);
    assert.ok(value !== null && value.length > 2048);
    const reply = await postForm(h.url, { key: h.key('device-1'), status: 'on' });
    assert.deepEqual(reply.body, answers.notFound().body);
    const line = await waitForLog(h.server, (entry) => typeof entry.msg === 'string' && entry.msg.startsWith('devices meta value over MAX_DEVICE_LIST_BYTES'));
    assert.equal(line?.level, 40);
    assert.equal(await h.directory.devicesOf(wpUserId), value, 'the value is left as it was');
  });
});

describe('DB_QUEUE_LIMIT on MySQL', { skip: skipFor('redis+mariadb', 'issue 10 MySQL queue bound') }, () => {
  let h: Harness;
  const devices = Array.from({ length: 60 }, (_, i) => `q-${i}`);
  before(async () => {
    h = await startHarness('redis+mariadb', devices, { DB_QUEUE_LIMIT: '1', WORKERS: '1' });
  });
  after(async () => h?.close());

  test('a flood beyond the MySQL queue bound gets 503 with Retry-After at once, not a crash', async () => {
    // MariaDB stops answering (SIGSTOP): the pool's connections hang, so requests queue for one.
    const mariadb = await mariadbOf();
    mariadb.pause();
    let replies: Reply[];
    try {
      replies = await Promise.all(devices.map((device) => postForm(h.url, { key: h.key(device), status: 'on' })));
    } finally {
      mariadb.resume();
    }
    for (const reply of replies) {
      assert.equal(reply.status, 503, reply.text);
      assert.deepEqual(reply.body, answers.unavailable().body);
      assert.ok(reply.headers.get('retry-after'));
    }
    // The bound, not the outage's deadline, refused most of them: mysql2 says so in the reason.
    const refusedByBound = h.server.logs.filter((line) => line.msg === 'backend unavailable' && /Queue limit reached/.test(String(line.reason)));
    assert.ok(refusedByBound.length >= devices.length - 20, `${refusedByBound.length} refused by DB_QUEUE_LIMIT`);
    // Logged as what it is, once for the burst, not as an outage line per refusal.
    const busy = h.server.logs.filter((line) => line.msg === 'mysql busy: requests beyond DB_QUEUE_LIMIT get 503');
    assert.equal(busy.length, 1, 'one DB_QUEUE_LIMIT line for the burst');
    assert.equal(busy[0]?.level, 40);
    assert.equal(h.server.child.exitCode, null);
    assert.equal((await request(h.url, '/healthz')).status, 200);
    // MySQL back: auths work again.
    const after = await postForm(h.url, { key: h.key(devices[0]!), status: 'on' });
    assert.equal(after.body.code, Code.ok, after.text);
  });
});
