/**
 * SPEC §13, many instances: two server instances (separate processes and ports, WORKERS=2 each,
 * TRUST_PROXY=1) on one Redis and one MariaDB behind Debian's nginx. The HTTP contract suite runs
 * through nginx; then, instance by instance and without the proxy: a session made on one serves
 * submits on the other, and a failure budget and a rate limit spent on one hold on the other.
 * The same sharing is proven for the embedded store with two instances on one DATA_DIR, which is
 * supported on one machine (docs/SCALING.md says why and where it ends).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Code, Message, answers } from '../../src/protocol/answers.js';
import { API_PATH } from '../../src/protocol/request.js';
import type { Directory } from '../../src/directory/directory.js';
import type { MessageStore } from '../../src/store/store.js';
import { describeHttpContract } from '../contract/http-suite.js';
import { mysqlDirectoryTarget, redisStoreTarget, type DirectoryTarget, type StoreTarget } from '../contract/targets.js';
import { openFixtureStores, TEST_UUID } from '../helpers/embedded.js';
import { encryptEnvelope } from '../helpers/encrypt.js';
import type { Reply } from '../helpers/http.js';
import { skipWithoutMariadb, startMariadbServer, type MariadbServer } from '../helpers/mariadb-server.js';
import { proxyHttpBlock, skipWithoutNginx, startNginx, type Nginx } from '../helpers/nginx.js';
import { skipIfAny } from '../helpers/real-backends.js';
import { skipWithoutRedis, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { makeDataDir, REPO_ROOT, startServerProcess, type ServerProcess } from '../helpers/server-process.js';

const SUITES = 'two instances behind nginx (test/scale/instances.test.ts)';
const skip = skipIfAny(skipWithoutRedis(SUITES), skipWithoutMariadb(SUITES), skipWithoutNginx(SUITES));

let redisServer: Promise<RedisServer> | undefined;
let mariadbServer: Promise<MariadbServer> | undefined;
const redis = (): Promise<RedisServer> => (redisServer ??= startRedisServer());
const mariadb = (): Promise<MariadbServer> => (mariadbServer ??= startMariadbServer());
after(async () => {
  await (await redisServer)?.close();
  await (await mariadbServer)?.close();
});

/** How every instance here runs: as production does, several processes, one proxy hop trusted. */
const INSTANCE_ENV = { WORKERS: '2', TRUST_PROXY: '1' };

interface Instances {
  a: ServerProcess;
  b: ServerProcess;
  stop(): Promise<void>;
}

async function startInstances(env: Record<string, string>): Promise<Instances> {
  // One after the other: six processes starting at once on a loaded machine miss the start
  // timeout. And a second that fails to start stops the first (a live child keeps the test from exiting).
  const a = await startServerProcess({ ...env, ...INSTANCE_ENV });
  let b: ServerProcess;
  try {
    b = await startServerProcess({ ...env, ...INSTANCE_ENV });
  } catch (error) {
    await a.stop();
    throw error;
  }
  return {
    a,
    b,
    stop: async () => {
      await Promise.all([a.stop(), b.stop()]);
    },
  };
}

/** Where a URL's server listens, as an nginx upstream. */
const hostPort = (url: string): string => new URL(url).host;

/** POST /api as a form, as if from `address` (X-Forwarded-For, believed because of TRUST_PROXY=1). */
async function postFrom(baseUrl: string, address: string | undefined, fields: Record<string, string>): Promise<Reply> {
  const response = await fetch(`${baseUrl}${API_PATH}`, {
    method: 'POST',
    body: new URLSearchParams(fields),
    headers: address === undefined ? {} : { 'x-forwarded-for': address },
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: JSON.parse(text) as Record<string, unknown>, text };
}

describeHttpContract({
  title: 'HTTP contract through nginx: two instances (WORKERS=2 each) on Redis + MariaDB',
  skip,
  store: 'redis',
  directory: 'mysql',
  openStore: async (): Promise<StoreTarget> => redisStoreTarget(await redis(), 'sms:'),
  openDirectory: async (): Promise<DirectoryTarget> => {
    const server = await mariadb();
    await server.reset();
    return mysqlDirectoryTarget(server);
  },
  deploy: async (env) => {
    const instances = await startInstances(env);
    let proxy: Nginx;
    try {
      proxy = await startNginx({ upstreams: [hostPort(instances.a.url), hostPort(instances.b.url)] });
    } catch (error) {
      await instances.stop();
      throw error;
    }
    return {
      url: proxy.url,
      servers: [instances.a, instances.b],
      stop: async () => {
        await proxy.close();
        await instances.stop();
      },
    };
  },
  // Races between four processes of two instances: only Redis and MySQL can settle them.
  concurrency: true,
});

const RATE_LIMIT_MAX = 5;
const FAILURE_LIMIT_PER_KEY = 3;
/** Small limits, so a few requests spend them. */
const LIMITS_ENV = {
  RATE_LIMIT_MAX: String(RATE_LIMIT_MAX),
  RATE_LIMIT_WINDOW_SECONDS: '60',
  FAILURE_LIMIT_PER_KEY: String(FAILURE_LIMIT_PER_KEY),
  FAILURE_WINDOW_SECONDS: '300',
};

interface SharedSetup {
  a: ServerProcess;
  b: ServerProcess;
  directory: Directory;
  messages: MessageStore;
}

/**
 * What two instances of one store must agree on (SPEC §13): every test talks to each instance
 * directly, each request from its own documentation address (RFC 5737) so the rate limit of one
 * test never meets another's.
 */
function describeSharedDecisions(title: string, suiteSkip: string | false, setUp: () => Promise<SharedSetup & { close(): Promise<void> }>): void {
  describe(title, { skip: suiteSkip }, () => {
    let fx: SharedSetup & { close(): Promise<void> };
    let nextAddress = 1;
    const freshAddress = (): string => `192.0.2.${nextAddress++}`;
    const key = (deviceId: string): string => `${TEST_UUID}${deviceId}`;

    before(async () => {
      fx = await setUp();
    });
    after(async () => fx?.close());

    test('auth on instance A, submit on instance B: delivered and stored; logout on B ends the session on A', async () => {
      await fx.directory.addDevice(TEST_UUID, 'phone-a', 'Phone A');
      const address = freshAddress();
      const authed = await postFrom(fx.a.url, address, { key: key('phone-a'), status: 'on' });
      assert.equal(authed.body.code, Code.ok, authed.text);
      const sent = await postFrom(fx.b.url, address, { key: key('phone-a'), message: encryptEnvelope(String(authed.body.message), 'from B') });
      assert.equal(sent.body.message, Message.delivered, sent.text);
      assert.equal((await fx.messages.get(String(sent.body.id)))?.payload, 'from B');
      assert.deepEqual((await postFrom(fx.b.url, address, { key: key('phone-a'), status: 'off' })).body, { message: Message.deleted, code: Code.ok });
      const late = await postFrom(fx.a.url, address, { key: key('phone-a'), message: encryptEnvelope(String(authed.body.message), 'after logout') });
      assert.deepEqual(late.body, { message: Message.notFound, code: Code.notFound });
    });

    test('a failure budget spent on A holds on B, for that key only', async () => {
      const guessed = key('no-such-device');
      for (let i = 0; i < FAILURE_LIMIT_PER_KEY; i++) {
        const reply = await postFrom(fx.a.url, freshAddress(), { key: guessed, status: 'on' });
        assert.deepEqual(reply.body, { message: Message.notFound, code: Code.notFound }, `failure ${i + 1}`);
      }
      const refused = await postFrom(fx.b.url, freshAddress(), { key: guessed, status: 'on' });
      assert.equal(refused.status, 429, refused.text);
      assert.deepEqual(refused.body, answers.tooManyRequests(1).body);
      assert.ok(Number(refused.headers.get('retry-after')) >= 1);
      const other = await postFrom(fx.b.url, freshAddress(), { key: key('another-guess'), status: 'on' });
      assert.deepEqual(other.body, { message: Message.notFound, code: Code.notFound }, 'another key is not blocked');
    });

    test('a rate limit spent on A holds on B, with the same 429 and headers; another address is not limited', async () => {
      const address = freshAddress();
      // Answered 400 (no key): counted by the rate limit, but no failure of any budget.
      for (let i = 0; i < RATE_LIMIT_MAX; i++) {
        const reply = await postFrom(fx.a.url, address, { status: 'on' });
        assert.equal(reply.status, 400, reply.text);
        assert.equal(reply.headers.get('x-ratelimit-remaining'), String(RATE_LIMIT_MAX - 1 - i), `request ${i + 1}`);
      }
      const refused = await postFrom(fx.b.url, address, { status: 'on' });
      assert.equal(refused.status, 429, refused.text);
      assert.equal(refused.text, JSON.stringify(answers.tooManyRequests(1).body));
      assert.equal(refused.headers.get('x-ratelimit-limit'), String(RATE_LIMIT_MAX));
      assert.equal(refused.headers.get('x-ratelimit-remaining'), '0');
      const retryAfter = Number(refused.headers.get('retry-after'));
      assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
      assert.equal(refused.headers.get('x-ratelimit-reset'), String(retryAfter));
      assert.equal((await postFrom(fx.b.url, freshAddress(), { status: 'on' })).status, 400);
    });
  });
}

describeSharedDecisions('two instances on Redis + MariaDB share sessions, failure budgets and rate limits', skip, async () => {
  const [redisTest, mariadbTest] = await Promise.all([redis(), mariadb()]);
  await mariadbTest.reset();
  // Its own prefix: nothing left by the contract suite above can meet these tests.
  const store = await redisStoreTarget(redisTest, 'scale:');
  const directoryTarget = mysqlDirectoryTarget(mariadbTest);
  await directoryTarget.addUser(TEST_UUID);
  const data = makeDataDir();
  const instances = await startInstances({ DATA_DIR: data.dir, ...store.env, ...directoryTarget.env, ...LIMITS_ENV });
  return {
    a: instances.a,
    b: instances.b,
    directory: directoryTarget.directory,
    messages: store.messages,
    close: async () => {
      await instances.stop();
      await store.close();
      await directoryTarget.close();
      data.remove();
    },
  };
});

// SQLite on one machine: every process of both instances opens the one file (WAL, its own writer
// connection each), exactly as one instance's workers already do.
describeSharedDecisions('two instances on one DATA_DIR (embedded store, one machine) share the same decisions', false, async () => {
  const data = makeDataDir();
  const stores = openFixtureStores(data.dir);
  await stores.directory.addUser(TEST_UUID);
  const env = { DATA_DIR: data.dir, ...LIMITS_ENV, TRUST_PROXY: '1' };
  const [a, b] = await Promise.all([startServerProcess(env), startServerProcess(env)]);
  return {
    a,
    b,
    directory: stores.directory,
    messages: stores.messages,
    close: async () => {
      await Promise.all([a.stop(), b.stop()]);
      stores.db.close();
      data.remove();
    },
  };
});

describe('nginx in front of the instances', { skip: skipWithoutNginx(SUITES) }, () => {
  test('docs/SCALING.md prints exactly the proxy configuration these tests run', () => {
    const documented = /```nginx\n([\s\S]*?)```/.exec(readFileSync(join(REPO_ROOT, 'docs/SCALING.md'), 'utf8'))?.[1];
    assert.ok(documented, 'docs/SCALING.md has an nginx block');
    const tested = proxyHttpBlock({
      listen: '80',
      upstreams: ['10.0.0.11:8000', '10.0.0.12:8000'],
      tempDir: '/var/lib/nginx',
      accessLog: '/var/log/nginx/secure-message.access.log',
    });
    assert.equal(documented, tested);
  });

  test('requests are spread over both instances, which see the device\'s address and not a forged one', async () => {
    const data = makeDataDir();
    const stores = openFixtureStores(data.dir);
    const env = { DATA_DIR: data.dir, ...LIMITS_ENV, TRUST_PROXY: '1' };
    const [a, b] = await Promise.all([startServerProcess(env), startServerProcess(env)]);
    const proxy = await startNginx({ upstreams: [hostPort(a.url), hostPort(b.url)] });
    try {
      // nginx appends the peer (this test, 127.0.0.1) to whatever X-Forwarded-For came in, and one
      // trusted hop means only that last entry is believed: a forged address gains nothing.
      const statuses: number[] = [];
      for (let i = 0; i <= RATE_LIMIT_MAX; i++) statuses.push((await postFrom(proxy.url, `198.51.100.${i + 1}`, { status: 'on' })).status);
      assert.deepEqual(statuses, [...Array<number>(RATE_LIMIT_MAX).fill(400), 429]);
      const served = (server: ServerProcess): number => server.logs.filter((line) => line.msg === 'request' && line.url === API_PATH).length;
      assert.ok(served(a) > 0 && served(b) > 0, `both instances served: A ${served(a)}, B ${served(b)}`);
    } finally {
      await proxy.close();
      await Promise.all([a.stop(), b.stop()]);
      stores.db.close();
      data.remove();
    }
  });
});
