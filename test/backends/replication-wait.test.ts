/**
 * SPEC §13 REDIS_WAIT_REPLICAS on a real Sentinel set (one primary, one replica): `delivered`,
 * `duplicate` and a new session's key are answered once the replica holds the write; with the
 * replica gone the answer is 503 with Retry-After, within about REDIS_WAIT_TIMEOUT_MS; the write
 * stays, so the retry once the replica is back answers `duplicate` with the same id, or `already
 * auth`. And WAIT is coalesced: many concurrent writes on one connection share one WAIT.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { ReplicationWait, singleConnection } from '../../src/backends/redis/replication-wait.js';
import { BackendUnavailableError } from '../../src/backends/unavailable.js';
import { Code, Message } from '../../src/protocol/answers.js';
import { messageId } from '../../src/protocol/message-id.js';
import { clientKey, TEST_UUID } from '../helpers/embedded.js';
import { encryptEnvelope } from '../helpers/encrypt.js';
import { postForm, type Reply } from '../helpers/http.js';
import { startConsumerFixture, type ConsumerFixture } from '../helpers/consumer.js';
import { waitUntil } from '../helpers/real-backends.js';
import { skipWithoutRedis, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { skipWithoutSentinel, type SetMember } from '../helpers/redis-sentinel.js';

const WAIT_TIMEOUT_MS = 500;
/** Generous: the 503 must come after about the WAIT timeout, never after a hang. */
const ANSWER_BOUND_MS = 8000;

describe('REDIS_WAIT_REPLICAS=1 on Redis Sentinel', { skip: skipWithoutSentinel('the replicated acknowledgement suite') }, () => {
  let fx: ConsumerFixture;
  const minute = 29_000_000;
  const submit = async (deviceId: string, text: string): Promise<Reply> =>
    postForm(fx.server.url, { key: clientKey(deviceId), message: encryptEnvelope(await fx.publicKey(deviceId), text, { enc: 'AES-GCM', minute }) });
  const timed = async <T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> => {
    const started = Date.now();
    const value = await work();
    return { value, ms: Date.now() - started };
  };
  const replica = async (): Promise<SetMember> => {
    const primary = await fx.sentinel!.primary();
    return fx.sentinel!.nodes.find((node) => node !== primary)!;
  };

  before(async () => {
    fx = await startConsumerFixture({
      store: 'sentinel',
      devices: 3,
      env: { REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: String(WAIT_TIMEOUT_MS) },
    });
  });
  after(async () => fx?.close());

  test('with the replica up: auth, submit (delivered, on the replica too) and a resubmit (duplicate) are answered', async () => {
    await fx.publicKey('dev-01');
    const first = await submit('dev-01', 'replicated');
    assert.equal(first.body.message, Message.delivered, first.text);
    const id = String(first.body.id);
    const onReplica = fx.sentinel!.direct(await replica(), 1);
    assert.ok(await onReplica.get(id), 'the replica holds the record when delivered is answered');
    const again = await submit('dev-01', 'replicated');
    assert.deepEqual(again.body, { code: Code.already, message: Message.duplicate, id });
  });

  test('with the replica gone: submit and auth answer 503 with Retry-After; once it is back the retries answer duplicate and already auth', async () => {
    await fx.publicKey('dev-02');
    const stopped = await replica();
    await stopped.stop('SIGKILL');
    const text = 'only the primary has it';
    const expectedId = messageId(TEST_UUID, 'dev-02', String(minute), Buffer.from(text, 'utf8'));

    const refused = await timed(() => submit('dev-02', text));
    assert.equal(refused.value.status, 503, refused.value.text);
    assert.equal(refused.value.body.message, Message.unavailable);
    assert.ok(Number(refused.value.headers.get('retry-after')) > 0, 'Retry-After');
    assert.ok(refused.ms >= WAIT_TIMEOUT_MS - 50 && refused.ms < ANSWER_BOUND_MS, `answered after ${refused.ms} ms`);
    // The write was not undone: the primary holds it.
    assert.ok(await fx.sentinel!.direct(await fx.sentinel!.primary(), 1).get(expectedId), 'the record is on the primary');

    // A duplicate confirms a record as well: while only the primary holds it, it is a 503 too.
    const stillAlone = await submit('dev-02', text);
    assert.equal(stillAlone.status, 503, stillAlone.text);

    const auth = await timed(() => postForm(fx.server.url, { key: clientKey('dev-03'), status: 'on' }));
    assert.equal(auth.value.status, 503, auth.value.text);
    assert.ok(Number(auth.value.headers.get('retry-after')) > 0, 'Retry-After');
    assert.ok(auth.ms < ANSWER_BOUND_MS, `auth answered after ${auth.ms} ms`);

    await stopped.start();
    await fx.sentinel!.waitForReplicas(1);
    const retried = await submit('dev-02', text);
    assert.deepEqual(retried.body, { code: Code.already, message: Message.duplicate, id: expectedId });
    const reauth = await postForm(fx.server.url, { key: clientKey('dev-03'), status: 'on' });
    assert.equal(reauth.status, 200, reauth.text);
    assert.equal(reauth.body.message, Message.alreadyAuth, reauth.text);
    // Through the consumer API, the record a 503 was answered for.
    const read = await fx.api(`/v1/messages/${expectedId}`);
    assert.equal(read.status, 200, read.text);
  });
});

describe('WAIT is coalesced per connection', { skip: skipWithoutRedis('the WAIT coalescing test') }, () => {
  let redis: RedisServer;
  let client: Redis;
  before(async () => {
    redis = await startRedisServer();
    client = new Redis({ host: redis.host, port: redis.port, enableAutoPipelining: true });
  });
  after(async () => {
    client?.disconnect();
    await redis?.close();
  });

  test('50 concurrent writes on a primary without replicas: all refused after about one timeout, with one or two WAITs', async () => {
    const wait = new ReplicationWait({ replicas: 1, timeoutMs: 300 }, singleConnection(client));
    const stats = redis.client(0);
    await stats.config('RESETSTAT');
    const started = Date.now();
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) => wait.replicated(`k${i}`, () => client.set(`k${i}`, 'v'))),
    );
    const ms = Date.now() - started;
    for (const result of results) {
      assert.equal(result.status, 'rejected');
      assert.ok(result.reason instanceof BackendUnavailableError, String(result.reason));
    }
    const calls = Number(/cmdstat_wait:calls=(\d+)/.exec(await stats.info('commandstats'))?.[1] ?? 0);
    assert.ok(calls >= 1 && calls <= 2, `${calls} WAIT commands for 50 writes`);
    // 50 WAITs one after another would take 15 s; two take 0.6 s, a loaded machine may add seconds.
    assert.ok(ms < 10_000, `${ms} ms`);
    // The writes themselves stay (SPEC §13: not undone).
    assert.equal(await stats.get('k49'), 'v');
  });

  test('a write that finishes while a WAIT runs gets the next WAIT, not the running one', async () => {
    // A WAIT long enough to be seen running, however slow the machine.
    const wait = new ReplicationWait({ replicas: 1, timeoutMs: 4000 }, singleConnection(client));
    const stats = redis.client(0);
    await stats.config('RESETSTAT');
    let firstSettled = false;
    const first = wait
      .replicated('a', () => client.set('a', '1'))
      .catch((error: unknown) => error)
      .finally(() => (firstSettled = true));
    // Issued once the first WAIT is running (the server shows it blocked): it must not be vouched for by it.
    // (cmd is the connection's last command; flags b says it is blocked in it now.)
    const waitRunning = async (): Promise<boolean> => /^.*\bflags=[A-Za-z]*b[A-Za-z]*\b.*\bcmd=wait\b/m.test(String(await stats.call('CLIENT', 'LIST')));
    await waitUntil(waitRunning, 10_000, () => 'the first WAIT was never seen running');
    assert.equal(firstSettled, false, 'the first WAIT still runs');
    const second = wait.replicated('b', () => client.set('b', '1')).catch((error: unknown) => error);
    assert.ok((await first) instanceof BackendUnavailableError);
    assert.ok((await second) instanceof BackendUnavailableError);
    const calls = Number(/cmdstat_wait:calls=(\d+)/.exec(await stats.info('commandstats'))?.[1] ?? 0);
    assert.equal(calls, 2);
  });
});
