/**
 * Issue 5: WORKERS=2 on the embedded store. Any process serves any session (auth on one, submit
 * served by another, told apart by the pid in the request log), a worker that dies is replaced,
 * and SIGTERM stops them all. Behaviour only: nothing here is timed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Code } from '../../src/protocol/answers.js';
import { clientKey, startEmbedded, type EmbeddedFixture } from '../helpers/embedded.js';
import { encryptEnvelope } from '../helpers/encrypt.js';
import { postOnNewConnection } from '../helpers/http.js';
import { makeDataDir, startServerProcess } from '../helpers/server-process.js';
import { keyTag } from '../../src/http/app.js';
import { LOG_TAG_SECRET_NAME } from '../../src/http/key-tag.js';

/** POST /api on a connection of its own (the cluster hands each new connection to the next worker): the JSON answer. */
async function postJson(baseUrl: string, fields: Record<string, string>): Promise<Record<string, unknown>> {
  return (await postOnNewConnection(baseUrl, fields)).body;
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.ok(condition(), `never happened: ${what}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('WORKERS=2: one port, shared sessions', () => {
  const devices = ['d1', 'd2', 'd3', 'd4'];
  let fx: EmbeddedFixture;
  let workerPids: number[];
  /** Both workers tag keys under the one secret kept in the store (src/http/key-tag.ts). */
  const logTagSecret = (): string =>
    fx.db.prepare<[string], { value: string }>('SELECT value FROM installation_secrets WHERE name = ?').get(LOG_TAG_SECRET_NAME)?.value ?? '';

  before(async () => {
    fx = await startEmbedded(
      devices.map((id) => [id, id.toUpperCase()]),
      { WORKERS: '2', KEY_POOL_SIZE: '2' },
    );
    const listening = fx.server.logs.find((line) => line.msg === 'listening');
    workerPids = (listening?.workers as number[] | undefined) ?? [];
  });
  after(async () => fx.close());

  test('the primary says "listening" once, naming both workers and the backends', () => {
    const lines = fx.server.logs.filter((line) => line.msg === 'listening');
    assert.equal(lines.length, 1);
    assert.equal(workerPids.length, 2);
    assert.ok(workerPids.every((pid) => pid !== lines[0]?.pid && alive(pid)));
    assert.match(String(lines[0]?.store), /^sqlite/);
    assert.match(String(lines[0]?.url), /^http:\/\/127\.0\.0\.1:\d+$/);
  });

  test('a session made by one worker is used by the other', async () => {
    const pems = new Map<string, string>();
    for (const device of devices) {
      const answer = await postJson(fx.server.url, { key: clientKey(device), status: 'on' });
      assert.equal(answer.code, Code.ok, JSON.stringify(answer));
      pems.set(device, String(answer.message));
    }
    // The cluster spreads connections over the workers in turn; a few rounds are bound to cross.
    const served = () => fx.server.logs.filter((line) => line.msg === 'request' && line.url === '/api');
    const crossed = () =>
      devices.filter((device) => {
        const tag = keyTag(clientKey(device), logTagSecret());
        const authPid = served().find((line) => line.key === tag && line.op === 'auth')?.pid;
        return served().some((line) => line.key === tag && line.op === 'submit' && line.code === Code.ok && line.pid !== authPid);
      });
    let sent = devices.length;
    for (let round = 0; round < 10 && crossed().length === 0; round++) {
      // Odd submits per round, so the turn-taking does not line up with the device order.
      for (const device of [...devices, devices[round % devices.length] as string]) {
        const message = encryptEnvelope(pems.get(device) ?? '', `round ${round} from ${device}, ${sent}`);
        const answer = await postJson(fx.server.url, { key: clientKey(device), message });
        assert.equal(answer.message, 'delivered', JSON.stringify(answer));
        sent += 1;
      }
      await until(() => served().length >= sent, 'every request logged');
    }
    assert.ok(crossed().length > 0, 'some session was authenticated on one worker and used on the other');
    const pidsServing = new Set(served().map((line) => line.pid));
    assert.deepEqual([...pidsServing].sort(), [...workerPids].sort(), 'both workers served requests');
    assert.equal((await fx.messages.list(1000)).length, sent - devices.length);
  });

  test('a worker that dies is replaced, and the sessions live on', async () => {
    const [victim] = workerPids;
    assert.ok(victim !== undefined);
    process.kill(victim, 'SIGKILL');
    await until(() => fx.server.logs.some((line) => line.msg === 'replacement worker listening'), 'replacement');
    const died = fx.server.logs.find((line) => line.msg === 'worker died; starting another');
    assert.equal(died?.worker, victim);

    const session = await fx.sessions.get(clientKey('d1'));
    assert.ok(session !== null);
    const pem = (await postJson(fx.server.url, { key: clientKey('d1'), status: 'off' })).message;
    assert.equal(pem, 'deleted');
    for (let i = 0; i < 4; i++) {
      const answer = await postJson(fx.server.url, { key: clientKey('d2'), message: 'not an envelope' });
      assert.equal(answer.message, 'invalid message');
    }
  });

  test('SIGTERM to the primary stops every worker and exits 0', async () => {
    const pids = fx.server.logs
      .filter((line) => line.msg === 'worker listening')
      .map((line) => line.pid as number);
    assert.ok(pids.length >= 3);
    assert.equal(await fx.server.stop(), 0);
    await until(() => pids.every((pid) => !alive(pid)), 'all workers gone');
  });
});

describe('WORKERS=2 start-up failure', () => {
  test('a worker that cannot start stops the whole server with a non-zero exit, not a restart loop', async () => {
    const data = makeDataDir();
    try {
      // An address of no interface here (TEST-NET-1): binding fails in every worker; nothing is sent.
      await assert.rejects(
        startServerProcess({ DATA_DIR: data.dir, WORKERS: '2', HOST: '192.0.2.1' }),
        // Issue 14: one clear line naming the setting, exit 2 like any bad setting, no stack trace.
        (error: Error) => {
          assert.match(error.message, /exited with 2 before listening[\s\S]*configuration error: HOST: "192\.0\.2\.1" is not an address of this machine/);
          assert.doesNotMatch(error.message, /    at /);
          assert.equal(error.message.match(/configuration error/g)?.length, 1);
          return true;
        },
      );
    } finally {
      data.remove();
    }
  });
});
