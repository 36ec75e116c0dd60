/**
 * SPEC §10 failure budgets over real HTTP with WORKERS=2, on the embedded store, on Redis +
 * MariaDB and on a Redis Cluster (SPEC §13): the count lives in the store (the failures land on both workers and still add up),
 * a spent budget is answered 429 with Retry-After before the directory is asked (the MariaDB
 * general log shows no query for it), one key's failures never block another key, the address
 * budget works behind a trusted proxy, and a window's end serves the key again.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateSecret, secretSha256 } from '../../src/credentials/index.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { encryptEnvelope } from '../helpers/encrypt.js';
import { OTHER_UUID, TEST_UUID } from '../helpers/embedded.js';
import { sleep } from '../helpers/real-backends.js';
import { skipWithoutRedisCluster } from '../helpers/redis-cluster.js';
import { post, skipRealDeployment, startClusterDeployment, startEmbeddedDeployment, startRealDeployment, type Answer, type Deployment } from './deployments.js';

type WithLog = Deployment & { generalLog?: (needle: string) => Promise<number> };

const deployments: Array<[string, () => Promise<WithLog>, string | false]> = [
  ['embedded', async () => startEmbeddedDeployment(), false],
  ['Redis + MariaDB', startRealDeployment, skipRealDeployment('failure budgets on Redis + MariaDB')],
  // SPEC §13: the counters on a cluster are spread over its masters and still shared by every process.
  ['Redis Cluster', startClusterDeployment, skipWithoutRedisCluster('failure budgets on a Redis Cluster')],
];

const THIRD_UUID = '3b241101-e2bb-4255-8caf-4136c566a962';
const FOURTH_UUID = '9a6e2f1c-4b8d-4e3a-9f7b-2c1d0e5a6b7c';

const SHORT_WINDOW_SECONDS = 8;

function assertTooMany(answer: Answer, maxSeconds: number): void {
  assert.equal(answer.status, 429, answer.text);
  assert.deepEqual(answer.body, { message: 'too many requests', code: 4 });
  const retryAfter = Number(answer.headers['retry-after']);
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= maxSeconds, `Retry-After ${answer.headers['retry-after']}`);
}

for (const [label, start, skip] of deployments) {
  describe(`failure budgets, WORKERS=2 (${label})`, { skip }, () => {
    let deployment: WithLog;
    /** The defaults: 30 per key in 300 s, no address budget. */
    let defaults: ServerProcess;
    /** FAILURE_LIMIT_PER_ADDRESS=5 behind one trusted proxy hop. */
    let perAddress: ServerProcess;
    /** FAILURE_LIMIT_PER_KEY=3 in a 3 s window. */
    let shortWindow: ServerProcess;
    const secret = generateSecret();

    before(async () => {
      deployment = await start();
      await deployment.addUser(TEST_UUID, [{ id: 'phone' }, { id: 'tablet' }]);
      await deployment.addUser(OTHER_UUID, [{ id: 'locked', secretSha256: secretSha256(secret) }]);
      await deployment.addUser(THIRD_UUID, [{ id: 'good' }]);
      await deployment.addUser(FOURTH_UUID, [{ id: 'sender' }]);
      const common = { ...deployment.env, WORKERS: '2', KEY_POOL_SIZE: '2' };
      // One after the other: six processes starting at once on a busy machine miss the start timeout.
      defaults = await startServerProcess(common);
      perAddress = await startServerProcess({ ...common, FAILURE_LIMIT_PER_ADDRESS: '5', TRUST_PROXY: '1' });
      // Long enough for three failures and a refusal to fall inside one window on a loaded machine.
      shortWindow = await startServerProcess({ ...common, FAILURE_LIMIT_PER_KEY: '3', FAILURE_WINDOW_SECONDS: String(SHORT_WINDOW_SECONDS) });
    });
    after(async () => {
      await Promise.all([defaults, perAddress, shortWindow].map((server) => server?.stop()));
      await deployment?.close();
    });

    test('31 failed auths for one key: the 31st is 429 with Retry-After, and the directory is not asked for it', async () => {
      const guessed = `${TEST_UUID}guess-1`;
      for (let i = 0; i < 30; i++) {
        const answer = await post(defaults.url, { key: guessed, status: 'on' });
        assert.deepEqual(answer.body, { message: 'not found', code: 2 }, `failure ${i + 1}`);
      }
      const queriesBefore = await deployment.generalLog?.(TEST_UUID);
      assertTooMany(await post(defaults.url, { key: guessed, status: 'on' }), 300);
      // Logout and submit for that key are refused the same way.
      assertTooMany(await post(defaults.url, { key: guessed, status: 'off' }), 300);
      assertTooMany(await post(defaults.url, { key: guessed, message: '{}' }), 300);
      if (deployment.generalLog !== undefined) {
        assert.ok((queriesBefore ?? 0) >= 30, `each of the 30 failures looked the UUID up (${queriesBefore} statements)`);
        assert.equal(await deployment.generalLog(TEST_UUID), queriesBefore, 'no directory query for a spent budget');
      }
      const pids = new Set(defaults.logs.filter((line) => line.msg === 'request').map((line) => line.pid));
      assert.ok(pids.size >= 2, 'the failures were spread over both workers, and their count was shared');
    });

    test('another key from the same address is still served', async () => {
      const answer = await post(defaults.url, { key: `${TEST_UUID}phone`, status: 'on' });
      assert.equal(answer.body.code, 0, answer.text);
      assert.equal((await post(defaults.url, { key: `${TEST_UUID}phone`, status: 'off' })).body.message, 'deleted');
    });

    test('invalid messages and submits without a session spend the key budget too', async () => {
      const key = `${TEST_UUID}tablet`;
      const opened = await post(defaults.url, { key, status: 'on' });
      assert.equal(opened.body.code, 0);
      let refused: Answer | undefined;
      for (let i = 0; i < 40 && refused === undefined; i++) {
        const answer = await post(defaults.url, { key, message: '{"not":"an envelope"}' });
        if (answer.status === 429) refused = answer;
        // A per-session envelope limit (INVALID_ENVELOPE_LIMIT) may end the session: then `not found`, a failure too.
        else assert.match(String(answer.body.message), /^(invalid message|not found)$/);
      }
      assert.ok(refused !== undefined, 'never refused');
      assertTooMany(refused, 300);
      // Even a good envelope now waits for the window.
      assertTooMany(await post(defaults.url, { key, message: encryptEnvelope(String(opened.body.message), 'good') }), 300);
    });

    test('a device that keeps to the protocol never spends from its budget', async () => {
      const key = `${FOURTH_UUID}sender`;
      const subjectsBefore = await deployment.failureSubjects();
      for (let round = 0; round < 2; round++) {
        const opened = await post(defaults.url, { key, status: 'on' });
        assert.equal(opened.body.code, 0);
        assert.equal((await post(defaults.url, { key, status: 'on' })).body.message, 'already auth');
        for (let i = 0; i < 35; i++) {
          const answer = await post(defaults.url, { key, message: encryptEnvelope(String(opened.body.message), `m${i % 5}`, { minute: 29_000_000 + round }) });
          assert.match(String(answer.body.message), /^(delivered|duplicate)$/);
        }
        assert.equal((await post(defaults.url, { key, status: 'off' })).body.message, 'deleted');
      }
      assert.deepEqual((await deployment.failureSubjects()).sort(), subjectsBefore.sort(), 'no counter was written for it');
    });

    test('per-address budget (FAILURE_LIMIT_PER_ADDRESS=5, TRUST_PROXY=1): a guessing address is stopped, others are served', async () => {
      const guesser = { 'x-forwarded-for': '203.0.113.7' };
      for (let i = 0; i < 5; i++) {
        // A different key each time: only the address budget can catch this.
        const answer = await post(perAddress.url, { key: `${TEST_UUID}spray-${i}`, status: 'on' }, guesser);
        assert.equal(answer.body.message, 'not found');
      }
      assertTooMany(await post(perAddress.url, { key: `${THIRD_UUID}good`, status: 'on' }, guesser), 300);
      const neighbour = await post(perAddress.url, { key: `${THIRD_UUID}good`, status: 'on' }, { 'x-forwarded-for': '203.0.113.8' });
      assert.equal(neighbour.body.code, 0, neighbour.text);
    });

    test(`after the window the key is served again (FAILURE_LIMIT_PER_KEY=3, FAILURE_WINDOW_SECONDS=${SHORT_WINDOW_SECONDS})`, async () => {
      const key = `${OTHER_UUID}locked`;
      for (let i = 0; i < 3; i++) {
        assert.equal((await post(shortWindow.url, { key, status: 'on', secret: 'a guess' })).body.message, 'not found');
      }
      // Past the budget even the right secret waits: the answer does not reveal that it was right.
      const refused = await post(shortWindow.url, { key, status: 'on', secret });
      assertTooMany(refused, SHORT_WINDOW_SECONDS);
      await sleep(Number(refused.headers['retry-after']) * 1000 + 300);
      const served = await post(shortWindow.url, { key, status: 'on', secret });
      assert.equal(served.body.code, 0, served.text);
    });
  });
}
