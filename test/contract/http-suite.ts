/**
 * The HTTP contract of SPEC §1-§7 as one suite that any deployment can run: one server on each
 * backend pair (test/contract/http.test.ts), several instances behind a load balancer
 * (test/scale/instances.test.ts), and whatever topology comes next. The suite seeds the
 * directory, starts the deployment with its settings, and checks answers and stored bytes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { findDevice } from '../../src/directory/device-list.js';
import { answers, Code, Message } from '../../src/protocol/answers.js';
import type { MessageRecord, SessionRecord } from '../../src/store/store.js';
import { TEST_UUID } from '../helpers/embedded.js';
import { encryptEnvelope } from '../helpers/encrypt.js';
import { postForm, request, type Reply } from '../helpers/http.js';
import { sleep } from '../helpers/real-backends.js';
import { makeDataDir, waitForLog, type ServerProcess } from '../helpers/server-process.js';
import { deviceVectors as devices, envelopeVectors as envelopes } from '../helpers/vectors.js';
import { assertExpiryNear, type DirectoryTarget, type StoreTarget } from './targets.js';

const SESSION_TTL = 3600;
/** Resends of a request answered 503 in the concurrency tests; a server that keeps answering it fails them. */
const MAX_RETRIES_AFTER_503 = 3;
const MESSAGE_TTL = 600;
const DEVICES: Array<[string, string]> = [
  ['tablet', 'Tablet'],
  ['desk', 'Bureau de Zoë 📱'],
  ['watch', 'Watch'],
  ['car', 'Car'],
  ['racer', 'Racer'],
  ['burst', 'Burst'],
];

/** What a deployment under test is, once started. */
export interface ContractDeployment {
  /** Where devices send: one server's address, or a load balancer's. */
  url: string;
  /** Every server process behind `url` (their start-up lines and warnings are checked). */
  servers: ServerProcess[];
  stop(): Promise<void>;
}

export interface HttpContractOptions {
  title: string;
  skip: string | false;
  /** The backends' names as /readyz (and, unless storeLogged says otherwise, the start-up log line) give them. */
  store: 'sqlite' | 'redis';
  directory: 'sqlite' | 'mysql';
  /** How the start-up line's `store` begins when it is not `store` (a cluster: "redis cluster"). */
  storeLogged?: string;
  /** The test's own view of the store and the directory the servers will use (DATA_DIR = dataDir). */
  openStore(dataDir: string): Promise<StoreTarget>;
  openDirectory(dataDir: string): Promise<DirectoryTarget>;
  /** Starts the servers with this environment (the backends' and the suite's settings) added to their own. */
  deploy(env: Record<string, string>): Promise<ContractDeployment>;
  /** The races between processes (SPEC §3, §4, §6): only where Redis and MySQL settle them. */
  concurrency: boolean;
}

/** The log lines of several servers as one, for waitForLog. */
function everyLog(servers: readonly ServerProcess[]): ServerProcess {
  return { get logs() { return servers.flatMap((server) => server.logs); } } as ServerProcess;
}

function assertAnswer(reply: Reply, status: number, body: Record<string, unknown>): void {
  assert.equal(reply.status, status, reply.text);
  assert.deepEqual(reply.body, body);
}

export function describeHttpContract(options: HttpContractOptions): void {
  describe(options.title, { skip: options.skip }, () => {
    let data: { dir: string; remove: () => void };
    let store: StoreTarget;
    let directory: DirectoryTarget;
    let deployment: ContractDeployment;
    let url: string;
    let wpUserId: string;
    let uuidCounter = 0;
    const key = (deviceId: string): string => `${TEST_UUID}${deviceId}`;
    const auth = (deviceId: string): Promise<Reply> => postForm(url, { key: key(deviceId), status: 'on' });
    const logout = (deviceId: string): Promise<Reply> => postForm(url, { key: key(deviceId), status: 'off' });
    const publicKeyOf = async (clientKey: string): Promise<string> => {
      const session = await store.sessions.get(clientKey);
      assert.ok(session, `a session for ${clientKey}`);
      return createPublicKey(session.private_key).export({ type: 'spki', format: 'pem' }).toString();
    };
    const statusOf = async (deviceId: string): Promise<string | null | undefined> => findDevice(await directory.devicesOf(wpUserId), deviceId)?.status;

    before(async () => {
      data = makeDataDir();
      store = await options.openStore(data.dir);
      await store.reset();
      directory = await options.openDirectory(data.dir);
      wpUserId = await directory.addUser(TEST_UUID);
      for (const [id, name] of DEVICES) await directory.directory.addDevice(TEST_UUID, id, name);
      deployment = await options.deploy({
        DATA_DIR: data.dir,
        ...store.env,
        ...directory.env,
        SESSION_TTL_SECONDS: String(SESSION_TTL),
        MESSAGE_TTL_SECONDS: String(MESSAGE_TTL),
        // Every invalid vector in one session, more than the per-session limit (proven in test/hardening).
        INVALID_ENVELOPE_LIMIT: '0',
      });
      url = deployment.url;
    });
    after(async () => {
      await deployment?.stop();
      await store?.close();
      await directory?.close();
      data?.remove();
    });

    test('the start-up log names the backends; /readyz lists each one up', async () => {
      for (const server of deployment.servers) {
        const listening = server.logs.find((line) => line.msg === 'listening');
        assert.match(String(listening?.store), new RegExp(`^${options.storeLogged ?? options.store} `));
        assert.match(String(listening?.directory), new RegExp(`^${options.directory} `));
      }
      const ready = await request(url, '/readyz');
      assert.equal(ready.status, 200, ready.text);
      const expected = Object.fromEntries(
        [options.store, options.directory].map((name) => [name, 'up'] as const),
      );
      assert.deepEqual(ready.body.backends, expected);
    });

    test('auth: a fresh key and the device name; the session in the SPEC §7 layout with its TTL; the device on', async () => {
      const reply = await auth('tablet');
      assert.equal(reply.status, 200, reply.text);
      assert.equal(reply.body.code, Code.ok);
      assert.equal(reply.body.name, 'Tablet');
      const raw = await store.rawSession(key('tablet'));
      assert.ok(raw);
      const record = JSON.parse(raw) as SessionRecord;
      assert.deepEqual(Object.keys(record), ['user_id', 'device_id', 'device_name', 'private_key', 'created_at']);
      assert.equal(raw, JSON.stringify(record), 'compact JSON, nothing else');
      assert.equal(record.user_id, TEST_UUID);
      assert.equal(record.device_id, 'tablet');
      assert.equal(record.device_name, 'Tablet');
      assert.match(record.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      // The private key stored is the one whose public half the client got.
      assert.equal(await publicKeyOf(key('tablet')), String(reply.body.message));
      assertExpiryNear(await store.sessionExpiry(key('tablet')), SESSION_TTL);
      assert.equal(await statusOf('tablet'), 'on');
    });

    test('auth again is "already auth"; unknown user, unknown device, a user id in another case are "not found"', async () => {
      const before = await store.rawSession(key('tablet'));
      assertAnswer(await auth('tablet'), 200, { message: Message.alreadyAuth, code: Code.already });
      assert.equal(await store.rawSession(key('tablet')), before);
      for (const other of [
        `7c9e6679-7425-40de-944b-e07fc1f90ae7tablet`,
        key('no-such-device'),
        `${TEST_UUID.toUpperCase()}tablet`,
      ]) {
        assertAnswer(await postForm(url, { key: other, status: 'on' }), 200, { message: Message.notFound, code: Code.notFound });
        assert.equal(await store.rawSession(other), null);
      }
    });

    test('submit: delivered with its id, stored in the SPEC §7 layout with its TTL, the session renewed; again a duplicate', async () => {
      const pem = await publicKeyOf(key('tablet'));
      await store.sessions.renew(key('tablet'), 100);
      const envelope = encryptEnvelope(pem, '{"temp":21,"note":"ünïcödé ✓"}', { minute: 29412345 });
      const reply = await postForm(url, { key: key('tablet'), message: envelope });
      assert.equal(reply.body.message, Message.delivered, reply.text);
      const id = String(reply.body.id);
      const raw = await store.rawMessage(id);
      assert.ok(raw);
      const record = JSON.parse(raw) as MessageRecord;
      const expected = JSON.stringify({
        id,
        user_id: TEST_UUID,
        device_id: 'tablet',
        device_name: 'Tablet',
        minute: 29412345,
        received_at: record.received_at,
        payload: '{"temp":21,"note":"ünïcödé ✓"}',
      });
      assert.equal(raw, expected);
      assert.match(record.received_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assertExpiryNear(await store.messageExpiry(id), MESSAGE_TTL);
      assertExpiryNear(await store.sessionExpiry(key('tablet')), SESSION_TTL);
      const again = await postForm(url, { key: key('tablet'), message: encryptEnvelope(pem, '{"temp":21,"note":"ünïcödé ✓"}', { minute: 29412345, enc: 'AES-GCM' }) });
      assertAnswer(again, 200, { message: Message.duplicate, code: Code.already, id });
      assert.equal(await store.rawMessage(id), raw);
    });

    test('logout deletes the session and sets the device off; a second logout is "not found"', async () => {
      assertAnswer(await logout('tablet'), 200, { message: Message.deleted, code: Code.ok });
      assert.equal(await store.rawSession(key('tablet')), null);
      assert.equal(await statusOf('tablet'), 'off');
      assertAnswer(await logout('tablet'), 200, { message: Message.notFound, code: Code.notFound });
      assertAnswer(await postForm(url, { key: key('tablet'), message: '{}' }), 200, { message: Message.notFound, code: Code.notFound });
    });

    test('a device name with UTF-8 beyond the BMP comes back as stored', async () => {
      const reply = await auth('desk');
      assert.equal(reply.body.name, 'Bureau de Zoë 📱');
      assert.equal((await store.sessions.get(key('desk')))?.device_name, 'Bureau de Zoë 📱');
    });

    describe('envelopes.json, submitted under a session holding the vectors\' key', () => {
      before(async () => {
        // SPEC §10: a session lives only while its device does, so the vectors' device is in the directory.
        await directory.directory.addDevice(envelopes.user_id, envelopes.device_id, 'Vector');
        await store.sessions.delete(envelopes.key);
        await store.sessions.create(
          envelopes.key,
          { user_id: envelopes.user_id, device_id: envelopes.device_id, device_name: 'Vector', private_key: envelopes.private_key, created_at: '2026-11-27T17:05:00.000Z' },
          0,
        );
      });

      for (const vector of envelopes.valid) {
        test(`valid ${vector.name}: delivered as the vector's id, stored byte for byte, then a duplicate`, async () => {
          const first = await postForm(url, { key: envelopes.key, message: vector.message });
          assertAnswer(first, 200, { message: Message.delivered, code: Code.ok, id: vector.id });
          const raw = await store.rawMessage(vector.id);
          assert.ok(raw);
          const receivedAt = (JSON.parse(raw) as MessageRecord).received_at;
          const minute = (JSON.parse(vector.message) as { minute: number | string }).minute;
          assert.equal(
            raw,
            JSON.stringify({ id: vector.id, user_id: envelopes.user_id, device_id: envelopes.device_id, device_name: 'Vector', minute, received_at: receivedAt, payload: vector.plaintext }),
          );
          assertAnswer(await postForm(url, { key: envelopes.key, message: vector.message }), 200, { message: Message.duplicate, code: Code.already, id: vector.id });
        });
      }

      test('every invalid vector gets the one invalid-message answer and stores nothing', async () => {
        const before = (await store.messages.list(100_000)).length;
        for (const vector of envelopes.invalid) {
          const reply = await postForm(url, { key: envelopes.key, message: vector.message });
          assert.equal(reply.status, 400, vector.name);
          assert.equal(reply.text, JSON.stringify(answers.invalidMessage().body), vector.name);
        }
        assert.equal((await store.messages.list(100_000)).length, before);
      });
    });

    describe('devices.json through auth and logout', () => {
      for (const vector of devices.cases) {
        test(`${vector.name}: the value after is exactly PHP's`, async () => {
          const uuid = `00000000-0000-4000-8000-${String(++uuidCounter).padStart(12, '0')}`;
          const userId = await directory.addUser(uuid, vector.meta_value);
          const clientKey = `${uuid}${vector.device_id}`;
          if (vector.set_status === 'off') {
            await store.sessions.create(clientKey, { user_id: uuid, device_id: vector.device_id, device_name: 'x', private_key: envelopes.private_key, created_at: '2026-11-27T17:05:00.000Z' }, 0);
            assertAnswer(await postForm(url, { key: clientKey, status: 'off' }), 200, { message: Message.deleted, code: Code.ok });
          } else {
            const reply = await postForm(url, { key: clientKey, status: 'on' });
            if (vector.found) assert.equal(reply.body.name, vector.device_name, reply.text);
            else assertAnswer(reply, 200, { message: Message.notFound, code: Code.notFound });
          }
          assert.equal(await directory.devicesOf(userId), vector.meta_value_after);
        });
      }

      for (const vector of devices.malformed) {
        test(`malformed ${vector.name}: holds no devices, is logged, stays byte for byte`, async () => {
          const uuid = `00000000-0000-4000-8000-${String(++uuidCounter).padStart(12, '0')}`;
          const userId = await directory.addUser(uuid, vector.meta_value);
          assertAnswer(await postForm(url, { key: `${uuid}phone-01`, status: 'on' }), 200, { message: Message.notFound, code: Code.notFound });
          assert.equal(await directory.devicesOf(userId), vector.meta_value);
          const warning = await waitForLog(everyLog(deployment.servers), (line) => line.msg === 'devices meta value unusable: treated as holding no devices' && line.wpUserId === userId);
          assert.ok(warning, 'the unusable value is logged');
        });
      }
    });

    // The production pair only: every auth here makes an RSA key, and the embedded store has its
    // own concurrency suite (test/api/concurrency.test.ts); the stores' and directories' races are
    // also in their contract suites, on every backend.
    if (options.concurrency) describe('concurrency against the real servers (SPEC §3, §4, §6)', () => {
      // A 503 (a store command timed out on a loaded machine) is §1's "try again": sent again, as a
      // device does, a few times. What the races must settle holds for the answers that follow it.
      const again = async (send: () => Promise<Reply>): Promise<Reply> => {
        let reply = await send();
        for (let retry = 0; reply.status === 503 && retry < MAX_RETRIES_AFTER_503; retry++) {
          await sleep(1000);
          reply = await send();
        }
        return reply;
      };
      test('25 simultaneous auths for one key: one winner, whose key is the one stored; 24 "already auth"', async () => {
        const replies = await Promise.all(Array.from({ length: 25 }, () => again(() => auth('racer'))));
        const codes = replies.map((reply) => reply.body.code);
        assert.equal(codes.filter((code) => code === Code.ok).length, 1, JSON.stringify(codes));
        assert.equal(codes.filter((code) => code === Code.already).length, 24, JSON.stringify(codes));
        const winner = replies.find((reply) => reply.body.code === Code.ok)!;
        const sent = await postForm(url, { key: key('racer'), message: encryptEnvelope(String(winner.body.message), 'proof') });
        assert.equal(sent.body.message, Message.delivered, sent.text);
      });

      test('two devices of one user logging in together, 20 times: both end on every time', async () => {
        for (let round = 0; round < 20; round++) {
          const [watch, car] = await Promise.all([again(() => auth('watch')), again(() => auth('car'))]);
          assert.equal(watch.body.code, Code.ok, `round ${round}: ${watch.text}`);
          assert.equal(car.body.code, Code.ok, `round ${round}: ${car.text}`);
          assert.equal(await statusOf('watch'), 'on', `round ${round}`);
          assert.equal(await statusOf('car'), 'on', `round ${round}`);
          await Promise.all([again(() => logout('watch')), again(() => logout('car'))]);
          assert.equal(await statusOf('watch'), 'off', `round ${round}`);
          assert.equal(await statusOf('car'), 'off', `round ${round}`);
        }
      });

      test('50 simultaneous distinct submits: all delivered, all stored', async () => {
        const pem = String((await auth('burst')).body.message);
        const replies = await Promise.all(
          Array.from({ length: 50 }, async (_, i) => {
            const send = () => postForm(url, { key: key('burst'), message: encryptEnvelope(pem, `{"n":${i}}`, { minute: 1000 }) });
            let reply = await send();
            let refused = false;
            for (let retry = 0; reply.status === 503 && retry < MAX_RETRIES_AFTER_503; retry++) {
              refused = true;
              await sleep(1000);
              reply = await send();
            }
            // Retried after a 503: delivered, or the duplicate of what the 503 had stored.
            return refused && reply.body.message === Message.duplicate ? { ...reply, body: { ...reply.body, message: Message.delivered } } : reply;
          }),
        );
        assert.ok(replies.every((reply) => reply.body.message === Message.delivered), JSON.stringify(replies.map((r) => r.body)));
        const ids = new Set(replies.map((reply) => String(reply.body.id)));
        assert.equal(ids.size, 50);
        for (const id of ids) assert.ok(await store.rawMessage(id), `message ${id} is stored`);
      });
    });
  });
}
