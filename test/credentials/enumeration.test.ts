/**
 * SPEC §10, enumeration: the answers of SPEC §1 are fixed, and an auth for an unknown UUID must
 * cost the directory the same work as one for a known UUID with an unknown device, so its time
 * does not tell them apart. Counted in MariaDB's general log: the same statements, one by one.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { OTHER_UUID, TEST_UUID } from '../helpers/embedded.js';
import { observable, post, skipRealDeployment, startRealDeployment } from './deployments.js';

describe('an unknown UUID costs the directory what a known one with an unknown device costs (MariaDB general log)', {
  skip: skipRealDeployment('enumeration on MariaDB'),
}, () => {
  let deployment: Awaited<ReturnType<typeof startRealDeployment>>;
  let server: ServerProcess;

  before(async () => {
    deployment = await startRealDeployment();
    await deployment.addUser(TEST_UUID, [{ id: 'phone' }]);
    server = await startServerProcess({ ...deployment.env, KEY_POOL_SIZE: '0' });
  });
  after(async () => {
    await server?.stop();
    await deployment?.close();
  });

  /** The server's own statements during one auth. */
  async function statementsFor(key: string): Promise<{ count: number; answer: string }> {
    const before = await deployment.generalLog('');
    const answer = observable(await post(server.url, { key, status: 'on' }));
    return { count: (await deployment.generalLog('')) - before, answer };
  }

  test('same answer bytes, same number of statements', async () => {
    // Once each first, so neither count holds a connection's set-up.
    await statementsFor(`${TEST_UUID}warm-up`);
    await statementsFor(`${OTHER_UUID}warm-up`);
    const unknownDevice = await statementsFor(`${TEST_UUID}no-such-device`);
    const unknownUser = await statementsFor(`${OTHER_UUID}phone`);
    assert.equal(unknownUser.answer, unknownDevice.answer);
    assert.equal(unknownUser.count, unknownDevice.count);
    assert.ok(unknownDevice.count >= 2, `the user and the devices row were both read (${unknownDevice.count})`);
  });
});
