/**
 * SPEC §10 in the client library, against the real server (embedded store, WORKERS=2, recheck on
 * every request): a device with a secret authenticates with it; when its session was ended
 * (`not found`: revoked and restored, removed by the admin command) or replaced by another
 * party's auth (`invalid message`), it authenticates again by itself and resends, and a message
 * already stored is never stored twice.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SecureMessageClient, SecureMessageError } from '../../src/client/index.js';
import { generateSecret, secretSha256 } from '../../src/credentials/index.js';
import { openFixtureStores, TEST_UUID } from '../helpers/embedded.js';
import { admin, makeDataDir, startServerProcess, type ServerProcess } from '../helpers/server-process.js';

const FAST = { attempts: 3, baseDelayMs: 20, maxDelayMs: 200, maxRetryAfterMs: 10_000 };

describe('client recovery with a device secret', () => {
  const data = makeDataDir();
  const stores = openFixtureStores(data.dir);
  const secret = generateSecret();
  const key = `${TEST_UUID}phone`;
  let server: ServerProcess;
  const client = (options: { secret?: string } = { secret }) =>
    new SecureMessageClient({ server: server.url, key, retry: FAST, ...options });

  before(async () => {
    await stores.directory.addUser(TEST_UUID);
    await stores.directory.addDevice(TEST_UUID, 'phone', 'Phone', secretSha256(secret));
    server = await startServerProcess({ DATA_DIR: data.dir, WORKERS: '2', KEY_POOL_SIZE: '2', DIRECTORY_RECHECK_SECONDS: '0' });
  });
  after(async () => {
    await server?.stop();
    stores.db.close();
    data.remove();
  });

  test('without the secret the device is not found, with a message that names the likely causes', async () => {
    await assert.rejects(client({}).auth(), (error: unknown) => {
      assert.ok(error instanceof SecureMessageError);
      assert.equal(error.code, 'NOT_FOUND');
      assert.match(error.message, /removed or revoked, or its secret is missing or wrong/);
      return true;
    });
  });

  test('replaced by another party: invalid message → a new auth with the secret, the message resent once', async () => {
    const mine = client();
    const minute = 29_000_001;
    const first = await mine.send('first', { minute });
    assert.equal(first.duplicate, false);
    // Another holder of the secret takes the session over (logout + auth): our key is stale now.
    const other = client();
    await other.auth();
    assert.notEqual(other.session?.publicKey, mine.session?.publicKey);
    // The same payload and minute again: the server already holds it, so it must come back `duplicate`.
    const again = await mine.send('first', { minute });
    assert.equal(again.id, first.id);
    assert.equal(again.duplicate, true);
    const next = await mine.send('second', { minute });
    assert.equal(next.duplicate, false);
    const stored = (await stores.messages.list(100)).filter((record) => record.payload === 'first');
    assert.equal(stored.length, 1, 'one stored copy');
  });

  test('ended by revocation and restored: not found → a new auth, delivered', async () => {
    const mine = client();
    await mine.auth();
    admin({ DATA_DIR: data.dir }, 'device', 'revoke', TEST_UUID, 'phone');
    await assert.rejects(mine.send('while revoked'), (error: unknown) => error instanceof SecureMessageError && error.code === 'NOT_FOUND');
    admin({ DATA_DIR: data.dir }, 'device', 'restore', TEST_UUID, 'phone');
    const result = await mine.send('after restore');
    assert.equal(result.duplicate, false);
    assert.equal((await stores.messages.get(result.id))?.payload, 'after restore');
  });
});
