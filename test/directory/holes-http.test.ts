/**
 * The directory defect of issue 9 end to end: a device in a list PHP left with holes or stray
 * entries (test/fixtures/device-list-holes.json, made by php) authenticates over HTTP, and the row
 * afterwards is exactly what PHP writes when it sets that device's status `on`; on the embedded
 * store and on MariaDB.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { holesVectors } from '../helpers/vectors.js';
import { post, skipRealDeployment, startEmbeddedDeployment, startRealDeployment, type Deployment } from '../credentials/deployments.js';

const { cases } = holesVectors();
const found = cases.filter((c) => c.meta_value_after !== null);

/** A distinct UUID per case: the fixture's index in the last group. */
const uuidFor = (i: number): string => `5d0c1e2a-7b3f-4c8d-9e1a-${String(i).padStart(12, '0')}`;

const deployments: Array<[string, () => Promise<Deployment>, string | false]> = [
  ['embedded', async () => startEmbeddedDeployment(), false],
  ['MariaDB', startRealDeployment, skipRealDeployment('device lists with holes on MariaDB')],
];

for (const [label, start, skip] of deployments) {
  describe(`auth in lists with holes and stray entries (${label})`, { skip }, () => {
    let deployment: Deployment;
    let server: ServerProcess;
    const users: string[] = [];

    before(async () => {
      deployment = await start();
      for (const [i, c] of found.entries()) {
        const wpUserId = await deployment.addUser(uuidFor(i), []);
        await deployment.setDevicesValue(wpUserId, c.meta_value);
        users.push(wpUserId);
      }
      server = await startServerProcess({ ...deployment.env, KEY_POOL_SIZE: '4' });
    });
    after(async () => {
      await server?.stop();
      await deployment?.close();
    });

    for (const [i, c] of found.entries()) {
      test(c.name, async () => {
        const answer = await post(server.url, { key: `${uuidFor(i)}${c.device_id}`, status: 'on' });
        assert.equal(answer.body.code, 0, answer.text);
        assert.equal(answer.body.name, c.device_name);
        assert.equal(await deployment.devicesValue(users[i]!), c.meta_value_after, 'the row is what PHP writes');
      });
    }
  });
}
