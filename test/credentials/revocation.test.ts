/**
 * SPEC §10 revocation over real HTTP with WORKERS=2, on the embedded store and on Redis +
 * MariaDB. The directory is changed with plain SQL on wp_usermeta, as WordPress would change
 * it; every request goes on a fresh connection, so both worker processes serve (and each may
 * hold the session's keys in its cache).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setDeviceEntry } from '../../src/directory/device-list.js';
import { admin, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { encryptEnvelope } from '../helpers/encrypt.js';
import { TEST_UUID, OTHER_UUID } from '../helpers/embedded.js';
import { sleep, waitUntil } from '../helpers/real-backends.js';
import { Code } from '../../src/protocol/answers.js';
import {
  devicesMetaValue,
  post,
  skipRealDeployment,
  startEmbeddedDeployment,
  startRealDeployment,
  type Deployment,
  type DeviceSeed,
} from './deployments.js';

const DEVICES: DeviceSeed[] = ['zero', 'two', 'revoked0', 'revoked2', 'admin-rm', 'admin-rv', 'keep'].map((id) => ({ id }));
/** Generous: the interval is 2 s; a loaded CI machine may take a while to answer. */
const TWO_SECONDS_BOUND_MS = 8000;
/** Fresh connections tried before "both workers refuse" fails for want of a second worker. */
const MAX_SUBMITS_FOR_BOTH_WORKERS = 60;

const deployments: Array<[string, () => Promise<Deployment>, string | false]> = [
  ['embedded', async () => startEmbeddedDeployment(), false],
  ['Redis + MariaDB', startRealDeployment, skipRealDeployment('revocation on Redis + MariaDB')],
];

for (const [label, start, skip] of deployments) {
  describe(`revocation, WORKERS=2 (${label})`, { skip }, () => {
    let deployment: Deployment;
    let wpUserId: string;
    let otherUserId: string;
    /** DIRECTORY_RECHECK_SECONDS=0, 2 and the default 60. */
    let every: ServerProcess;
    let twoSeconds: ServerProcess;
    let sixty: ServerProcess;
    let remaining = [...DEVICES];

    before(async () => {
      deployment = await start();
      wpUserId = await deployment.addUser(TEST_UUID, DEVICES);
      otherUserId = await deployment.addUser(OTHER_UUID, [{ id: 'phone' }]);
      const common = { ...deployment.env, WORKERS: '2', KEY_POOL_SIZE: '2' };
      // One after the other: six processes starting at once on a busy machine miss the start timeout.
      every = await startServerProcess({ ...common, DIRECTORY_RECHECK_SECONDS: '0' });
      twoSeconds = await startServerProcess({ ...common, DIRECTORY_RECHECK_SECONDS: '2' });
      sixty = await startServerProcess(common);
    });
    after(async () => {
      await Promise.all([every, twoSeconds, sixty].map((server) => server?.stop()));
      await deployment?.close();
    });

    /** Authenticates, then submits on several fresh connections so both workers hold the session. */
    async function openSession(server: ServerProcess, key: string): Promise<string> {
      const opened = await post(server.url, { key, status: 'on' });
      assert.equal(opened.body.code, 0, opened.text);
      const pem = String(opened.body.message);
      for (let i = 0; i < 4; i++) {
        const reply = await post(server.url, { key, message: encryptEnvelope(pem, `warm-up ${i} ${Math.random()}`) });
        assert.equal(reply.body.message, 'delivered');
      }
      return pem;
    }

    async function submit(server: ServerProcess, key: string, pem: string): Promise<string> {
      return String((await post(server.url, { key, message: encryptEnvelope(pem, `m ${Math.random()}`) })).body.message);
    }

    /** Removes a device from the list as WordPress would: a new serialized value for the row. */
    async function removeBySql(id: string): Promise<void> {
      remaining = remaining.filter((device) => device.id !== id);
      await deployment.setDevicesValue(wpUserId, devicesMetaValue(remaining));
    }

    async function revokeBySql(id: string): Promise<void> {
      const current = await deployment.devicesValue(wpUserId);
      await deployment.setDevicesValue(wpUserId, setDeviceEntry(current, id, 'status', 'revoked'));
    }

    /**
     * Both workers refuse, several times over. node:cluster may give a run of fresh connections
     * to one worker on a loaded machine, so it goes on until the request log shows refusals from
     * two processes (or fails).
     */
    async function assertRefusedEverywhere(server: ServerProcess, key: string, pem: string): Promise<void> {
      const from = server.logs.length;
      const refusedBy = (): Set<unknown> =>
        new Set(server.logs.slice(from).filter((line) => line.msg === 'request' && line.op === 'submit' && line.code === Code.notFound).map((line) => line.pid));
      for (let i = 0; i < 4 || (refusedBy().size < 2 && i < MAX_SUBMITS_FOR_BOTH_WORKERS); i++) assert.equal(await submit(server, key, pem), 'not found');
      await waitUntil(async () => refusedBy().size >= 2, 10_000, () => `refusals logged by ${refusedBy().size} worker(s) only`);
      assert.equal((await post(server.url, { key, status: 'on' })).body.message, 'not found', 'auth: not found, never already auth');
    }

    /** Submits until one is refused; returns how long after `since` that was. */
    async function refusedWithin(server: ServerProcess, key: string, pem: string, since: number): Promise<number> {
      while (Date.now() - since < TWO_SECONDS_BOUND_MS + 2000) {
        if ((await submit(server, key, pem)) === 'not found') return Date.now() - since;
        await sleep(100);
      }
      assert.fail('submits kept being delivered after the device was removed');
    }

    test('interval 0: the next submit after a removal by SQL is not found, on both workers', async () => {
      const key = `${TEST_UUID}zero`;
      const pem = await openSession(every, key);
      await removeBySql('zero');
      await assertRefusedEverywhere(every, key, pem);
    });

    test('interval 2 s: submits stop being delivered within the interval after a removal by SQL', async () => {
      const key = `${TEST_UUID}two`;
      const pem = await openSession(twoSeconds, key);
      const removedAt = Date.now();
      await removeBySql('two');
      const ms = await refusedWithin(twoSeconds, key, pem, removedAt);
      assert.ok(ms < TWO_SECONDS_BOUND_MS, `refused only after ${ms} ms`);
      await assertRefusedEverywhere(twoSeconds, key, pem);
    });

    test('status revoked (interval 0 and 2 s): session ended, auth not found, the status never changed by the server', async () => {
      const key0 = `${TEST_UUID}revoked0`;
      const pem0 = await openSession(every, key0);
      await revokeBySql('revoked0');
      await assertRefusedEverywhere(every, key0, pem0);

      const key2 = `${TEST_UUID}revoked2`;
      const pem2 = await openSession(twoSeconds, key2);
      const revokedAt = Date.now();
      await revokeBySql('revoked2');
      // A logout of the revoked device (before or after its recheck) must not set it `off`.
      assert.match(String((await post(twoSeconds.url, { key: key2, status: 'off' })).body.message), /^(deleted|not found)$/);
      await post(twoSeconds.url, { key: key2, status: 'on' });
      const ms = await refusedWithin(twoSeconds, key2, pem2, revokedAt);
      assert.ok(ms < TWO_SECONDS_BOUND_MS);
      await assertRefusedEverywhere(twoSeconds, key2, pem2);

      const value = (await deployment.devicesValue(wpUserId)) ?? '';
      assert.match(value, /s:8:"revoked0";a:2:\{s:4:"name";s:8:"revoked0";s:6:"status";s:7:"revoked";\}/);
      assert.match(value, /s:8:"revoked2";a:2:\{s:4:"name";s:8:"revoked2";s:6:"status";s:7:"revoked";\}/);
    });

    test('a user whose UUID row is gone loses the session (interval 0)', async () => {
      const key = `${OTHER_UUID}phone`;
      const pem = await openSession(every, key);
      await deployment.sql(`DELETE FROM wp_usermeta WHERE user_id = ? AND meta_key = 'uuid'`, [otherUserId]);
      await assertRefusedEverywhere(every, key, pem);
    });

    test('admin device remove and revoke end the session at once, even with the 60 s default', async () => {
      const removed = `${TEST_UUID}admin-rm`;
      const pemRemoved = await openSession(sixty, removed);
      assert.match(admin(deployment.env, 'device', 'remove', TEST_UUID, 'admin-rm'), /its session was ended/);
      remaining = remaining.filter((device) => device.id !== 'admin-rm');
      await assertRefusedEverywhere(sixty, removed, pemRemoved);

      const revoked = `${TEST_UUID}admin-rv`;
      const pemRevoked = await openSession(sixty, revoked);
      assert.match(admin(deployment.env, 'device', 'revoke', TEST_UUID, 'admin-rv'), /its session was ended/);
      await assertRefusedEverywhere(sixty, revoked, pemRevoked);
      assert.match(admin(deployment.env, 'device', 'status', TEST_UUID, 'admin-rv'), /^revoked$/m);
      assert.match(admin(deployment.env, 'device', 'restore', TEST_UUID, 'admin-rv'), /may authenticate again/);
      assert.equal((await post(sixty.url, { key: revoked, status: 'on' })).body.code, 0);
    });

    test('both worker processes served these requests', () => {
      const pids = new Set(every.logs.filter((line) => line.msg === 'request').map((line) => line.pid));
      assert.ok(pids.size >= 2, `request lines came from ${pids.size} process(es)`);
    });

    test('a device still in the directory keeps being served: nothing else was ended', async () => {
      const key = `${TEST_UUID}keep`;
      const pem = await openSession(twoSeconds, key);
      await sleep(2500);
      for (let i = 0; i < 4; i++) assert.equal(await submit(twoSeconds, key, pem), 'delivered');
    });
  });
}

describe('revocation costs no directory query per submit when the interval is above 0 (MariaDB general log)', {
  skip: skipRealDeployment('revocation on Redis + MariaDB'),
}, () => {
  test('ten submits within the interval: no statement mentions the user', async () => {
    const deployment = await startRealDeployment();
    const server = await startServerProcess({ ...deployment.env, KEY_POOL_SIZE: '2', DIRECTORY_RECHECK_SECONDS: '600' });
    try {
      await deployment.addUser(TEST_UUID, [{ id: 'quiet' }]);
      const key = `${TEST_UUID}quiet`;
      const opened = await post(server.url, { key, status: 'on' });
      assert.equal(opened.body.code, 0);
      const before = await deployment.generalLog(TEST_UUID);
      assert.ok(before > 0, 'the auth itself was seen in the general log');
      for (let i = 0; i < 10; i++) {
        assert.equal((await post(server.url, { key, message: encryptEnvelope(String(opened.body.message), `quiet ${i}`) })).body.message, 'delivered');
      }
      assert.equal(await deployment.generalLog(TEST_UUID), before);
    } finally {
      await server.stop();
      await deployment.close();
    }
  });
});
