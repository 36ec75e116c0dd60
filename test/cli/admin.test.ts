/** The admin command, run as a process the way a newcomer runs it, on the embedded store. */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { findDevice } from '../../src/directory/device-list.js';
import { META_KEYS, openFixtureStores } from '../helpers/embedded.js';
import { admin, adminResult, makeDataDir } from '../helpers/server-process.js';

const UUID = '9b2f0c0e-8c1a-4f53-b0a4-1f1f6b8e2d11';

describe('admin command on the embedded store', () => {
  const data = makeDataDir();
  const env = { DATA_DIR: data.dir };
  after(() => data.remove());

  test('adds a user and devices, lists them, shows a status, removes one', () => {
    assert.match(admin(env, 'user', 'add', UUID), /^user 1 has uuid/);
    assert.match(admin(env, 'device', 'add', UUID, 'phone-01', '--name', 'Zoë’s phone 📱'), /client key is 9b2f0c0e-8c1a-4f53-b0a4-1f1f6b8e2d11phone-01/);
    admin(env, 'device', 'add', UUID, 'tablet');
    assert.equal(admin(env, 'device', 'list', UUID), 'phone-01\toff\tZoë’s phone 📱\ntablet\toff\ttablet\n');
    assert.equal(admin(env, 'device', 'status', UUID, 'phone-01'), 'off\n');
    admin(env, 'device', 'remove', UUID, 'tablet');
    assert.equal(admin(env, 'device', 'list', UUID), 'phone-01\toff\tZoë’s phone 📱\n');
  });

  test('writes the rows WordPress holds: uuid meta and a PHP-serialized device map with byte lengths', async () => {
    const stores = openFixtureStores(data.dir);
    try {
      const wpUserId = await stores.directory.findUser(UUID);
      assert.equal(wpUserId, '1');
      assert.equal(
        await stores.usermeta.read('1', META_KEYS.devicesMetaKey),
        'a:1:{s:8:"phone-01";a:2:{s:4:"name";s:19:"Zoë’s phone 📱";s:6:"status";s:3:"off";}}',
      );
      assert.equal(findDevice(await stores.usermeta.read('1', META_KEYS.devicesMetaKey), 'phone-01')?.name, 'Zoë’s phone 📱');
    } finally {
      stores.db.close();
    }
  });

  test('refuses mistakes with a message and a non-zero exit, changing nothing', () => {
    const cases: Array<[string[], RegExp]> = [
      [['user', 'add', UUID], /exists already/],
      [['user', 'add', 'not-a-uuid'], /must be 36 characters/],
      [['device', 'add', UUID, 'phone-01'], /exists|already/i],
      [['device', 'add', UUID, 'bad/id'], /device id/],
      [['device', 'remove', UUID, 'nope'], /not|no device/i],
      [['device', 'list', '00000000-0000-4000-8000-000000000000'], /no user/],
      [['nonsense'], /unknown command/],
      [[], /missing command/],
    ];
    for (const [args, message] of cases) {
      const result = adminResult(env, ...args);
      assert.notEqual(result.status, 0, args.join(' '));
      assert.match(result.stderr, message, `${args.join(' ')}: ${result.stderr}`);
    }
    assert.equal(admin(env, 'device', 'list', UUID), 'phone-01\toff\tZoë’s phone 📱\n');
  });

  test('a bad setting stops it with one line naming the variable', () => {
    const result = adminResult({ ...env, SESSION_KEY_BITS: '1024' }, 'device', 'list', UUID);
    assert.equal(result.status, 1);
    assert.equal(result.stderr.trim().split('\n').length, 1);
    assert.match(result.stderr, /SESSION_KEY_BITS/);
  });

  test('help, --help and -h print the usage on stdout with exit 0, even with a bad setting', () => {
    for (const word of ['help', '--help', '-h']) {
      const result = adminResult({ ...env, SESSION_KEY_BITS: '1024' }, word);
      assert.equal(result.status, 0, result.stderr);
      assert.match(result.stdout, /^usage:\n  admin user add <uuid>/);
      assert.equal(result.stderr, '');
    }
  });
});
