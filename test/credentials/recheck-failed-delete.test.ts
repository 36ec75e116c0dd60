/**
 * SPEC §10 revocation: a due recheck that finds the device gone but cannot delete the session
 * (the store failed that one write: 503) leaves the recheck due, so the next submit ends the
 * session rather than being served for another DIRECTORY_RECHECK_SECONDS. Real embedded stores;
 * only the one session delete is made to fail.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import pino from 'pino';
import { SqliteSessionRecheckStore } from '../../src/backends/sqlite/credentials.js';
import { openWriterConnection } from '../../src/backends/sqlite/database.js';
import { WriteBatcher } from '../../src/backends/sqlite/write-batch.js';
import { BackendUnavailableError } from '../../src/backends/unavailable.js';
import { NO_CREDENTIAL_RULES, RevocationCheck } from '../../src/credentials/index.js';
import { answers, Code } from '../../src/protocol/answers.js';
import { ProtocolService } from '../../src/protocol/service.js';
import { SessionKeyCache } from '../../src/session/key-cache.js';
import type { SessionStore } from '../../src/store/store.js';
import { openFixtureAcceptedStore, openFixtureStores, TEST_UUID } from '../helpers/embedded.js';
import { encryptEnvelope } from '../helpers/encrypt.js';
import { makeDataDir } from '../helpers/server-process.js';

const key = `${TEST_UUID}phone-01`;
const data = makeDataDir();
const stores = openFixtureStores(data.dir);
const writer = openWriterConnection(data.dir);
const rechecks = new SqliteSessionRecheckStore(stores.db, new WriteBatcher(writer));
const submits = openFixtureAcceptedStore(data.dir);

let failNextDelete = false;
const sessions: SessionStore = {
  create: (k, record, ttl) => stores.sessions.create(k, record, ttl),
  get: (k) => stores.sessions.get(k),
  renew: (k, ttl) => stores.sessions.renew(k, ttl),
  delete: async (k) => {
    if (failNextDelete) {
      failNextDelete = false;
      throw new BackendUnavailableError('sqlite', new Error('injected: this one delete fails'));
    }
    return stores.sessions.delete(k);
  },
};

const { publicKey, privateKey } = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});
const service = new ProtocolService({
  directory: stores.directory,
  sessions,
  accepted: submits.accepted,
  keys: { take: async () => ({ publicKeyPem: publicKey, privateKeyPem: privateKey }) },
  settings: { userIdLength: 36, sessionTtlSeconds: 3600, messageTtlSeconds: 0, minuteWindow: 0 },
  log: pino({ level: 'silent' }),
  keyCache: new SessionKeyCache({ maxSessions: 4, maxKeysPerSession: 2, idleMs: 0 }),
  // A long interval: without the release, the next recheck would be an hour away.
  credentials: { ...NO_CREDENTIAL_RULES, revocation: new RevocationCheck(rechecks, 3600) },
});

before(async () => {
  await stores.directory.addUser(TEST_UUID);
  await stores.directory.addDevice(TEST_UUID, 'phone-01', 'Phone');
});
after(() => {
  submits.close();
  writer.close();
  stores.db.close();
  data.remove();
});

test('a removed device whose session could not be deleted at its recheck is rechecked again at the next submit', async () => {
  const auth = await service.auth(key);
  assert.equal(auth.answer.body.code, Code.ok, JSON.stringify(auth.answer.body));
  const pem = auth.answer.body.message;
  await stores.directory.removeDevice(TEST_UUID, 'phone-01');
  // Make the recheck due now, as the interval passing would.
  await rechecks.release(key);

  failNextDelete = true;
  await assert.rejects(service.submit(key, encryptEnvelope(pem, 'first')), BackendUnavailableError);
  const next = await service.submit(key, encryptEnvelope(pem, 'second'));
  assert.deepEqual(next.answer, answers.notFound(), 'the device is gone: its session ends, nothing is delivered');
  assert.equal(await stores.sessions.get(key), null);
});
