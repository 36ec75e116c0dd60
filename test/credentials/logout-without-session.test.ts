/**
 * SPEC §3, §4: a logout that finds no session is `not found` and still sets an `on` device `off`
 * (docs/PROTOCOL.md "Sessions"), but never leaves `off` behind a session an auth created while the
 * logout ran. Here the auth runs to its end between the logout's finding no session and its
 * `off` (the auth's own `on` comes first): the logout looks for the session again and writes `on`
 * back. Real embedded stores, in process, so the interleaving is exact; only the directory's
 * status write is intercepted to run the auth at that point.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import pino from 'pino';
import { findDevice } from '../../src/directory/device-list.js';
import type { DeviceStatus } from '../../src/directory/directory.js';
import { answers, Code } from '../../src/protocol/answers.js';
import { ProtocolService } from '../../src/protocol/service.js';
import { SessionKeyCache } from '../../src/session/key-cache.js';
import { META_KEYS, openFixtureAcceptedStore, openFixtureStores, TEST_UUID } from '../helpers/embedded.js';
import { makeDataDir } from '../helpers/server-process.js';

const key = `${TEST_UUID}phone-01`;
const data = makeDataDir();
const stores = openFixtureStores(data.dir);
const submits = openFixtureAcceptedStore(data.dir);
const { publicKey, privateKey } = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});
const service = new ProtocolService({
  directory: stores.directory,
  sessions: stores.sessions,
  accepted: submits.accepted,
  keys: { take: async () => ({ publicKeyPem: publicKey, privateKeyPem: privateKey }) },
  settings: { userIdLength: 36, sessionTtlSeconds: 3600, messageTtlSeconds: 0, minuteWindow: 0 },
  log: pino({ level: 'silent' }),
  keyCache: new SessionKeyCache({ maxSessions: 4, maxKeysPerSession: 2, idleMs: 0 }),
});

async function status(): Promise<string | null | undefined> {
  const wpUserId = await stores.directory.findUser(TEST_UUID);
  assert.ok(wpUserId !== null);
  return findDevice(await stores.usermeta.read(wpUserId, META_KEYS.devicesMetaKey), 'phone-01')?.status;
}

before(async () => {
  await stores.directory.addUser(TEST_UUID);
  await stores.directory.addDevice(TEST_UUID, 'phone-01', 'Phone');
});
after(() => {
  submits.close();
  stores.db.close();
  data.remove();
});

test('a logout without a session sets the device off; an auth that lands before that off keeps its on', async () => {
  // `on` with no session: what an expired session or a delete run after its 503 leaves.
  await stores.directory.setDeviceEntry(TEST_UUID, 'phone-01', 'status', 'on');
  assert.deepEqual((await service.logout(key)).answer, answers.notFound());
  assert.equal(await status(), 'off');

  await stores.directory.setDeviceEntry(TEST_UUID, 'phone-01', 'status', 'on');
  const setStatus = stores.directory.setStatus.bind(stores.directory);
  let raced = false;
  stores.directory.setStatus = async (wpUserId: string, deviceId: string, next: DeviceStatus) => {
    if (next === 'off' && !raced) {
      raced = true;
      const auth = await service.auth(key);
      assert.equal(auth.answer.body.code, Code.ok, JSON.stringify(auth.answer.body));
    }
    return setStatus(wpUserId, deviceId, next);
  };
  try {
    assert.deepEqual((await service.logout(key)).answer, answers.notFound(), 'no session when the logout looked');
  } finally {
    stores.directory.setStatus = setStatus;
  }
  assert.ok(raced, 'the auth ran inside the logout');
  assert.notEqual(await stores.sessions.get(key), null, 'the auth\'s session stands');
  assert.equal(await status(), 'on', 'the device of a live session is on');
});
