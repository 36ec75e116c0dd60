/**
 * Issue 14: start-up failures as one line, the operator listener's refusals, load shedding under
 * a blocked event loop, /readyz's one-second cache and 503 while stopping, the shutdown deadline
 * for a request that never finishes, and request ids unique across workers.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { connect, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { ConfigError, readConfig } from '../../src/config/config.js';
import { startServer } from '../../src/server.js';
import { startEmbedded } from '../helpers/embedded.js';
import { postForm, postOnNewConnection } from '../helpers/http.js';
import { entryArgs, freePort, makeDataDir, serverEnv, waitForLog } from '../helpers/server-process.js';
import { waitUntil } from '../helpers/real-backends.js';

function startFails(env: Record<string, string>): { status: number | null; stderr: string; stdout: string } {
  const data = makeDataDir();
  try {
    const result = spawnSync(process.execPath, entryArgs('main'), { cwd: data.dir, env: serverEnv({ DATA_DIR: data.dir, ...env }), encoding: 'utf8', timeout: 60_000 });
    return { status: result.status, stderr: result.stderr, stdout: result.stdout };
  } finally {
    data.remove();
  }
}

describe('start-up failures are one line naming the setting', () => {
  test('a port in use, with one process and with two workers', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = String((blocker.address() as AddressInfo).port);
    try {
      for (const workers of ['1', '2']) {
        const result = startFails({ PORT: port, WORKERS: workers });
        assert.equal(result.status, 2, `WORKERS=${workers}: ${result.stderr}`);
        assert.equal(result.stderr, `configuration error: PORT: 127.0.0.1:${port} is already in use by another process\n`);
        assert.doesNotMatch(result.stdout, /"level":50|\bat .*\.js:\d+/);
      }
    } finally {
      blocker.close();
    }
  });

  test('a HOST that does not resolve', () => {
    const result = startFails({ HOST: 'no-such-host.invalid' });
    assert.equal(result.status, 2, result.stderr);
    assert.equal(result.stderr, 'configuration error: HOST: "no-such-host.invalid" does not resolve to an address\n');
  });

  test('the operator port in use', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as AddressInfo).port;
    try {
      const result = startFails({ ADMIN_PORT: String(port) });
      assert.equal(result.status, 2, result.stderr);
      assert.equal(result.stderr, `configuration error: ADMIN_PORT: 127.0.0.1:${port} is already in use by another process\n`);
    } finally {
      blocker.close();
    }
  });
});

describe('the operator listener refuses', () => {
  test('a non-loopback ADMIN_HOST without ADMIN_TOKEN, at start-up', () => {
    assert.throws(() => readConfig({ ADMIN_HOST: '0.0.0.0' }), (error: ConfigError) => error.variable === 'ADMIN_TOKEN');
    assert.throws(() => readConfig({ ADMIN_HOST: '0.0.0.0', ADMIN_TOKEN: 'short' }), /ADMIN_TOKEN: must be at least 16/);
    assert.doesNotThrow(() => readConfig({ ADMIN_HOST: '0.0.0.0', ADMIN_PORT: '0' }), 'off: no token needed');
    assert.doesNotThrow(() => readConfig({ ADMIN_HOST: '::1' }));
    const result = startFails({ ADMIN_HOST: '0.0.0.0', ADMIN_PORT: '8001' });
    assert.equal(result.status, 2);
    assert.equal(result.stderr, 'configuration error: ADMIN_TOKEN: required when ADMIN_HOST is not a loopback address (ADMIN_HOST is "0.0.0.0")\n');
  });

  test('every request without the right bearer token, when one is set', async () => {
    const token = 'operator-token-0123456789abcdef';
    const fx = await startEmbedded(undefined, { ADMIN_HOST: '0.0.0.0', ADMIN_PORT: String(await freePort()), ADMIN_TOKEN: token });
    try {
      const admin = fx.server.adminUrl!.replace('0.0.0.0', '127.0.0.1');
      for (const path of ['/metrics', '/', '/dashboard.json', '/openapi.json', '/docs/', '/nothing']) {
        for (const authorization of [undefined, 'Bearer wrong-token-0123456789abcdef', `Basic ${token}`, `Bearer ${token}x`]) {
          const response = await fetch(`${admin}${path}`, { headers: authorization === undefined ? {} : { authorization } });
          assert.equal(response.status, 401, `${path} ${authorization}`);
          assert.equal(response.headers.get('www-authenticate'), 'Bearer');
          assert.deepEqual(await response.json(), { message: 'unauthorized', code: 6 });
        }
      }
      const ok = await fetch(`${admin}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(ok.status, 200);
      assert.match(await ok.text(), /secure_message_requests_total/);
      const output = fx.server.output();
      assert.ok(!output.includes(token), 'the token is never logged');
    } finally {
      await fx.close();
    }
  });
});

describe('load shedding', () => {
  test('a blocked event loop yields 503 with Retry-After, then service resumes', async () => {
    const data = makeDataDir();
    const config = readConfig({ DATA_DIR: data.dir, HOST: '127.0.0.1', PORT: '0', WORKERS: '1', KEY_POOL_SIZE: '0', ADMIN_PORT: '0', MAX_EVENT_LOOP_DELAY_MS: '200' });
    const server = await startServer(config, pino({ level: 'silent' }));
    try {
      assert.equal((await postForm(server.url, { key: 'x', status: 'bogus' })).status, 400, 'served before');
      // Block this process's event loop (the server's) for well past the limit.
      const until = Date.now() + 1500;
      while (Date.now() < until) {
        // busy on purpose
      }
      const shed = await postForm(server.url, { key: 'x', status: 'bogus' });
      assert.equal(shed.status, 503);
      assert.deepEqual(shed.body, { message: 'unavailable', code: 5 });
      assert.ok(Number(shed.headers.get('retry-after')) > 0);
      let resumed = false;
      for (let i = 0; i < 100 && !resumed; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        resumed = (await postForm(server.url, { key: 'x', status: 'bogus' })).status === 400;
      }
      assert.ok(resumed, 'service resumes once the loop keeps up');
    } finally {
      await server.stop();
      data.remove();
    }
  });
});

describe('readiness and stop', () => {
  test('/readyz probes the backends at most once a second', async () => {
    const data = makeDataDir();
    const config = readConfig({ DATA_DIR: data.dir, HOST: '127.0.0.1', PORT: '0', WORKERS: '1', KEY_POOL_SIZE: '0', ADMIN_PORT: '0' });
    const server = await startServer(config, pino({ level: 'silent' }));
    try {
      const handle = server.backends.handles[0]!;
      let pings = 0;
      const ping = handle.ping.bind(handle);
      (handle as { ping: () => Promise<void> }).ping = () => {
        pings++;
        return ping();
      };
      const started = Date.now();
      for (let i = 0; i < 10; i++) assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
      const elapsed = Date.now() - started;
      assert.ok(pings <= Math.ceil(elapsed / 1000) + 1, `${pings} probes in ${elapsed} ms`);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      await fetch(`${server.url}/readyz`);
      assert.ok(pings >= 2, 'probed again after a second');
    } finally {
      await server.stop();
      data.remove();
    }
  });

  test('a client that half-closes after its request still gets the answer of a request awaiting a store write', async () => {
    const data = makeDataDir();
    const config = readConfig({ DATA_DIR: data.dir, HOST: '127.0.0.1', PORT: '0', WORKERS: '1', KEY_POOL_SIZE: '0', ADMIN_PORT: '0' });
    const server = await startServer(config, pino({ level: 'silent' }));
    try {
      const url = new URL(server.url);
      const socket = connect(Number(url.port), url.hostname);
      socket.on('error', () => undefined);
      let answer = '';
      socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
      const closed = new Promise<string>((resolve) => socket.once('close', () => resolve(answer)));
      // An unknown key: `not found` is answered after its failure-budget count is written.
      // end() sends the request and then the client's FIN at once.
      socket.end('POST /api HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 15\r\n\r\nkey=x&status=on');
      const received = await closed;
      assert.match(received, /^HTTP\/1\.1 200 /);
      assert.match(received, /\{"message":"not found","code":2\}$/);
    } finally {
      await server.stop();
      data.remove();
    }
  });

  test('while stopping: a request in flight finishes, /readyz is 503, a stuck request is cut at the deadline', async () => {
    const data = makeDataDir();
    // The in-flight auth below is a `not found`, which awaits its failure-budget write, and the
    // client half-closes after it: the answer must still come (src/http/app.ts, httpAllowHalfOpen).
    const config = readConfig({ DATA_DIR: data.dir, HOST: '127.0.0.1', PORT: '0', WORKERS: '1', KEY_POOL_SIZE: '0', ADMIN_PORT: '0', SHUTDOWN_TIMEOUT_SECONDS: '2' });
    const server = await startServer(config, pino({ level: 'silent' }));
    try {
      const url = new URL(server.url);
      const openRequest = async () => {
        const socket = connect(Number(url.port), url.hostname);
        await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
        socket.on('error', () => undefined);
        let answer = '';
        socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
        const closed = new Promise<string>((resolve) => socket.once('close', () => resolve(answer)));
        // Headers and part of the body: the request is in flight until the rest comes.
        socket.write('POST /api HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 15\r\n\r\nkey=');
        return { socket, closed };
      };
      // Both must be in flight (their headers read) before the stop: an idle connection is just closed.
      let arrived = 0;
      server.app.server.on('request', () => arrived++);
      const finishing = await openRequest();
      const stuck = await openRequest();
      await waitUntil(async () => arrived >= 2, 10_000, () => `${arrived} of the 2 requests reached the server`);
      const started = Date.now();
      const stopping = server.stop();
      await new Promise((resolve) => setTimeout(resolve, 200));
      // The rest of the body, and a /readyz pipelined behind it on the same connection.
      finishing.socket.end('x&status=onGET /readyz HTTP/1.1\r\nHost: x\r\n\r\n');
      const finished = await finishing.closed;
      assert.match(finished, /^HTTP\/1\.1 200 /, 'the request in flight got its answer');
      assert.match(finished, /"code":2/);
      assert.match(finished, /HTTP\/1\.1 503 [\s\S]*retry-after: 5[\s\S]*\{"message":"unavailable","code":5\}/i, '/readyz while stopping');
      await stopping;
      const answerOfStuck = await stuck.closed;
      const took = Date.now() - started;
      assert.equal(answerOfStuck, '', 'the stuck request was cut, not answered');
      assert.ok(took >= 1500 && took < 15_000, `stop waited up to the deadline, then went on (${took} ms)`);
    } finally {
      data.remove();
    }
  });
});

describe('request ids', () => {
  test('are unique across two workers', async () => {
    const fx = await startEmbedded(undefined, { WORKERS: '2' });
    try {
      // Rounds of requests, each on a connection of its own, until both workers have answered
      // some (node:cluster's round robin may give a busy machine's burst to one worker).
      const requestLines = () => fx.server.logs.filter((l) => l.msg === 'request');
      let sent = 0;
      for (let round = 0; round < 10 && new Set(requestLines().map((l) => l.pid)).size < 2; round++) {
        await Promise.all(Array.from({ length: 20 }, () => postOnNewConnection(fx.server.url, { key: 'x', status: 'bogus' })));
        sent += 20;
        await waitForLog(fx.server, () => requestLines().length >= sent);
      }
      const lines = requestLines();
      assert.ok(new Set(lines.map((l) => l.pid)).size >= 2, 'both workers answered');
      const ids = lines.map((l) => l.reqId);
      assert.equal(new Set(ids).size, ids.length, 'no id repeats');
    } finally {
      await fx.close();
    }
  });
});
