/**
 * SPEC §10 device secrets over real HTTP, on the embedded store and on Redis + MariaDB: a device
 * with `secret_sha256` opens (and ends) a session only with its secret; a missing, wrong or
 * rotated-away secret is answered with exactly the bytes an unknown device gets.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateSecret, secretSha256 } from '../../src/credentials/index.js';
import { admin, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { encryptEnvelope } from '../helpers/encrypt.js';
import { OTHER_UUID, TEST_UUID } from '../helpers/embedded.js';
import { observable, post, skipRealDeployment, startEmbeddedDeployment, startRealDeployment, type Deployment } from './deployments.js';

const deployments: Array<[string, () => Promise<Deployment>, string | false]> = [
  ['embedded', async () => startEmbeddedDeployment(), false],
  ['Redis + MariaDB', startRealDeployment, skipRealDeployment('device secrets on Redis + MariaDB')],
];

for (const [label, start, skip] of deployments) {
  describe(`device secrets (${label})`, { skip }, () => {
    let deployment: Deployment;
    let server: ServerProcess;
    const secret = generateSecret();
    const locked = `${TEST_UUID}locked`;
    const open = `${TEST_UUID}open`;

    before(async () => {
      deployment = await start();
      await deployment.addUser(TEST_UUID, [{ id: 'locked', name: 'Locked', secretSha256: secretSha256(secret) }, { id: 'open', name: 'Open' }]);
      server = await startServerProcess({ ...deployment.env, KEY_POOL_SIZE: '2' });
    });
    after(async () => {
      await server?.stop();
      await deployment?.close();
    });

    /** What an unknown device gets for this status: the reference every refusal must equal. */
    async function unknownDevice(status: 'on' | 'off'): Promise<string> {
      const unknown = observable(await post(server.url, { key: `${TEST_UUID}no-such-device`, status }));
      const unknownUser = observable(await post(server.url, { key: `${OTHER_UUID}locked`, status }));
      assert.equal(unknownUser, unknown, 'an unknown user and an unknown device are answered alike');
      return unknown;
    }

    test('a generated secret is 32 random bytes in base64url without padding', () => {
      assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
      assert.equal(Buffer.from(secret, 'base64url').length, 32);
      assert.notEqual(generateSecret(), secret);
    });

    test('a missing or wrong secret is answered byte for byte like an unknown device; the right one opens', async () => {
      const reference = await unknownDevice('on');
      assert.equal(JSON.parse(JSON.parse(reference).text).message, 'not found');
      const attempts: Array<Record<string, string>> = [
        { key: locked, status: 'on' },
        { key: locked, status: 'on', secret: '' },
        { key: locked, status: 'on', secret: 'wrong' },
        { key: locked, status: 'on', secret: secret.slice(0, -1) },
        { key: locked, status: 'on', secret: `${secret}x` },
        { key: locked, status: 'on', secret: secretSha256(secret) },
      ];
      for (const fields of attempts) {
        assert.equal(observable(await post(server.url, fields)), reference, `secret ${JSON.stringify(fields.secret)}`);
      }
      const opened = await post(server.url, { key: locked, status: 'on', secret });
      assert.equal(opened.body.code, 0);
      assert.match(String(opened.body.message), /-----BEGIN PUBLIC KEY-----/);
      assert.equal(opened.body.name, 'Locked');
      // With a session in place, the wrong secret still learns nothing: not even `already auth`.
      assert.equal(observable(await post(server.url, { key: locked, status: 'on', secret: 'wrong' })), reference);
      assert.equal((await post(server.url, { key: locked, status: 'on', secret })).body.message, 'already auth');

      // Submits need no secret (SPEC §10).
      const delivered = await post(server.url, { key: locked, message: encryptEnvelope(String(opened.body.message), 'with a secret') });
      assert.equal(delivered.body.message, 'delivered');

      // Logout without the secret is refused like an unknown device's and leaves the session alone.
      const logoutReference = await unknownDevice('off');
      assert.equal(observable(await post(server.url, { key: locked, status: 'off' })), logoutReference);
      assert.equal(observable(await post(server.url, { key: locked, status: 'off', secret: 'wrong' })), logoutReference);
      const stillThere = await post(server.url, { key: locked, message: encryptEnvelope(String(opened.body.message), 'still in session') });
      assert.equal(stillThere.body.message, 'delivered');
      assert.equal((await post(server.url, { key: locked, status: 'off', secret })).body.message, 'deleted');
    });

    test('a device without secret_sha256 works as before', async () => {
      const opened = await post(server.url, { key: open, status: 'on' });
      assert.equal(opened.body.code, 0);
      assert.equal((await post(server.url, { key: open, status: 'off' })).body.message, 'deleted');
    });

    test('a rotated secret: the old one is refused like an unknown device, the new one opens, the old session ended', async () => {
      const opened = await post(server.url, { key: locked, status: 'on', secret });
      assert.equal(opened.body.code, 0);
      const printed = admin(deployment.env, 'device', 'secret', TEST_UUID, 'locked');
      const rotated = /^secret:\s+(\S+)$/m.exec(printed)?.[1];
      assert.ok(rotated !== undefined && rotated !== secret, printed);
      assert.match(printed, /its session was ended/);
      // The old session is gone at once.
      const refused = await post(server.url, { key: locked, message: encryptEnvelope(String(opened.body.message), 'old session') });
      assert.equal(refused.body.message, 'not found');
      assert.equal(observable(await post(server.url, { key: locked, status: 'on', secret })), await unknownDevice('on'));
      const reopened = await post(server.url, { key: locked, status: 'on', secret: rotated });
      assert.equal(reopened.body.code, 0);
      assert.equal((await post(server.url, { key: locked, status: 'off', secret: rotated })).body.message, 'deleted');
    });

    test('REQUIRE_DEVICE_SECRET=true: a device without a secret is an unknown device', async () => {
      const strict = await startServerProcess({ ...deployment.env, KEY_POOL_SIZE: '0', REQUIRE_DEVICE_SECRET: 'true' });
      try {
        const reference = observable(await post(strict.url, { key: `${TEST_UUID}no-such-device`, status: 'on' }));
        assert.equal(observable(await post(strict.url, { key: open, status: 'on' })), reference);
        assert.equal(observable(await post(strict.url, { key: open, status: 'on', secret: 'anything' })), reference);
      } finally {
        await strict.stop();
      }
    });

    test('no secret ever reaches the log', () => {
      assert.ok(!server.output().includes(secret));
    });
  });
}
