/**
 * One contract, every directory (the embedded SQLite table; WordPress's wp_usermeta in MariaDB):
 * UsermetaTable and the Directory above it give the same answers and leave the same bytes
 * (SPEC §2, §3), including every devices.json vector as PHP itself wrote it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { MYSQL_CONNECT_TIMEOUT_MS, openMysqlDirectory } from '../../src/backends/mysql/index.js';
import { BackendUnavailableError } from '../../src/backends/unavailable.js';
import { DeviceListError, findDevice } from '../../src/directory/device-list.js';
import { DirectoryError } from '../../src/directory/directory.js';
import { META_KEYS } from '../helpers/embedded.js';
import { skipWithoutMariadb, startMariadbServer, type MariadbServer } from '../helpers/mariadb-server.js';
import { freePort } from '../helpers/real-backends.js';
import { assertEachRefusedBefore } from '../helpers/refused.js';
import { makeDataDir } from '../helpers/server-process.js';
import { mysqlDirectoryTarget, sqliteDirectoryTarget, type DirectoryTarget } from './targets.js';
import { deviceVectors as devices } from '../helpers/vectors.js';


const mariadbSkip = skipWithoutMariadb('directory contract on MariaDB (test/contract/directories.test.ts)');
let mariadbServer: Promise<MariadbServer> | undefined;
const mariadb = (): Promise<MariadbServer> => (mariadbServer ??= startMariadbServer());
after(async () => (await mariadbServer)?.close());

let uuidCounter = 0;
/** A fresh, valid UUID per call, so tests never share a user. */
function uuid(): string {
  return `00000000-0000-4000-8000-${String(++uuidCounter).padStart(12, '0')}`;
}

const TWO_DEVICES = 'a:2:{s:5:"watch";a:2:{s:4:"name";s:5:"Watch";s:6:"status";s:3:"off";}s:3:"car";a:2:{s:4:"name";s:3:"Car";s:6:"status";s:3:"off";}}';

const targets: Array<{ name: string; skip: string | false; open: () => Promise<DirectoryTarget> }> = [
  {
    name: 'sqlite',
    skip: false,
    open: async () => {
      const data = makeDataDir();
      const target = sqliteDirectoryTarget(data.dir);
      return { ...target, close: async () => (await target.close(), data.remove()) };
    },
  },
  { name: 'mysql', skip: mariadbSkip, open: async () => mysqlDirectoryTarget(await mariadb()) },
];

for (const { name, skip, open } of targets) {
  describe(`directory contract: ${name}`, { skip }, () => {
    let target: DirectoryTarget;
    before(async () => {
      target = await open();
    });
    after(async () => target.close());

    test('a user is the one row whose uuid meta is exactly the user id; none or two is not found', async () => {
      const one = uuid();
      const wpUserId = await target.addUser(one);
      assert.match(wpUserId, /^\d+$/);
      assert.equal(await target.directory.findUser(one), wpUserId);
      assert.equal(await target.directory.findUser(uuid()), null);
      const twice = uuid();
      await target.usermeta.insert('77001', META_KEYS.uuidMetaKey, twice);
      await target.usermeta.insert('77002', META_KEYS.uuidMetaKey, twice);
      assert.deepEqual((await target.usermeta.findUserIds(META_KEYS.uuidMetaKey, twice)).sort(), ['77001', '77002']);
      assert.equal(await target.directory.findUser(twice), null);
    });

    test('the user id is compared byte for byte: not case-blind, trailing spaces count (as in the embedded store)', async () => {
      const lower = `abcdef00-0000-4000-8000-${String(++uuidCounter).padStart(12, '0')}`;
      await target.addUser(lower);
      assert.equal(await target.directory.findUser(lower.toUpperCase()), null);
      assert.deepEqual(await target.usermeta.findUserIds(META_KEYS.uuidMetaKey, `${lower} `), []);
      assert.deepEqual(await target.usermeta.findUserIds(META_KEYS.uuidMetaKey.toUpperCase(), lower), []);
    });

    test('WordPress user ids beyond 2^53 come back as exact decimal text', async () => {
      const big = '9007199254740993';
      const id = uuid();
      assert.equal(await target.directory.addUser(id, big), big);
      assert.deepEqual(await target.usermeta.findUserIds(META_KEYS.uuidMetaKey, id), [big]);
      await target.usermeta.insert(big, META_KEYS.devicesMetaKey, TWO_DEVICES);
      assert.equal(await target.usermeta.read(big, META_KEYS.devicesMetaKey), TWO_DEVICES);
    });

    test('read and update use the first row (lowest umeta_id) and leave a second one alone', async () => {
      const wpUserId = await target.addUser(uuid(), TWO_DEVICES);
      const second = TWO_DEVICES.replace('Watch', 'WATCH');
      await target.usermeta.insert(wpUserId, META_KEYS.devicesMetaKey, second);
      assert.equal(await target.devicesOf(wpUserId), TWO_DEVICES);
      assert.equal(await target.directory.setStatus(wpUserId, 'watch', 'on'), true);
      assert.equal(findDevice(await target.devicesOf(wpUserId), 'watch')?.status, 'on');
      // The second row still holds exactly what it held.
      const rows = await target.usermeta.findUserIds(META_KEYS.devicesMetaKey, second);
      assert.deepEqual(rows, [wpUserId]);
    });

    test('update inserts a row when there is none, and writes nothing when the change says so', async () => {
      const wpUserId = await target.addUser(uuid());
      await target.usermeta.update(wpUserId, 'other_meta', () => undefined);
      assert.equal(await target.usermeta.read(wpUserId, 'other_meta'), null);
      await target.usermeta.update(wpUserId, 'other_meta', (current) => `${current ?? ''}x`);
      await target.usermeta.update(wpUserId, 'other_meta', (current) => `${current ?? ''}y`);
      assert.equal(await target.usermeta.read(wpUserId, 'other_meta'), 'xy');
    });

    test('concurrent read-modify-writes of one row all land (the row is locked while it is changed)', async () => {
      const wpUserId = await target.addUser(uuid());
      await target.usermeta.insert(wpUserId, 'counter', '');
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          target.usermeta.update(wpUserId, 'counter', (current) => `${current ?? ''}${String.fromCharCode(65 + i)}`),
        ),
      );
      const value = (await target.usermeta.read(wpUserId, 'counter')) ?? '';
      assert.equal([...value].sort().join(''), 'ABCDEFGHIJKLMNOPQRST');
    });

    test('two devices of one user set on together, 20 times: both end on', async () => {
      const wpUserId = await target.addUser(uuid(), TWO_DEVICES);
      for (let round = 0; round < 20; round++) {
        await Promise.all([target.directory.setStatus(wpUserId, 'watch', 'on'), target.directory.setStatus(wpUserId, 'car', 'on')]);
        const value = await target.devicesOf(wpUserId);
        assert.equal(findDevice(value, 'watch')?.status, 'on', `round ${round}`);
        assert.equal(findDevice(value, 'car')?.status, 'on', `round ${round}`);
        await Promise.all([target.directory.setStatus(wpUserId, 'watch', 'off'), target.directory.setStatus(wpUserId, 'car', 'off')]);
        assert.equal(await target.devicesOf(wpUserId), TWO_DEVICES, `round ${round}: both off again, byte for byte`);
      }
    });

    for (const vector of devices.cases) {
      test(`devices.json ${vector.name}: status ${vector.set_status} gives PHP's exact value after`, async () => {
        const id = uuid();
        const wpUserId = await target.addUser(id, vector.meta_value);
        const found = await target.directory.findDevice(id, vector.device_id);
        assert.equal(found?.deviceName ?? null, vector.found ? vector.device_name : null);
        assert.equal(await target.directory.setStatus(wpUserId, vector.device_id, vector.set_status), vector.found);
        assert.equal(await target.devicesOf(wpUserId), vector.meta_value_after);
      });
    }

    for (const vector of devices.malformed) {
      test(`devices.json malformed ${vector.name}: no devices, value untouched`, async () => {
        const id = uuid();
        const wpUserId = await target.addUser(id, vector.meta_value);
        assert.equal(await target.directory.findDevice(id, 'phone-01'), null);
        assert.equal(await target.directory.setStatus(wpUserId, 'phone-01', 'on'), false);
        assert.equal(await target.devicesOf(wpUserId), vector.meta_value);
      });
    }

    test('admin operations: add, list, remove devices; a refusal is the caller\'s error, not an outage, and changes nothing', async () => {
      const id = uuid();
      await target.addUser(id);
      await target.directory.addDevice(id, 'phone-01', 'Téléphone 📱');
      await target.directory.addDevice(id, 'tab', 'Tab');
      assert.deepEqual(await target.directory.listDevices(id), [
        { id: 'phone-01', name: 'Téléphone 📱', status: 'off' },
        { id: 'tab', name: 'Tab', status: 'off' },
      ]);
      const wpUserId = (await target.directory.findUser(id))!;
      const before = await target.devicesOf(wpUserId);
      await assert.rejects(target.directory.addDevice(id, 'tab', 'again'), DeviceListError);
      assert.equal(await target.devicesOf(wpUserId), before);
      await target.directory.removeDevice(id, 'phone-01');
      assert.deepEqual((await target.directory.listDevices(id)).map((d) => d.id), ['tab']);
      await assert.rejects(target.directory.addUser(id), DirectoryError);
    });

    if (name === 'mysql') {
      test('a new user needs a WordPress user id: MySQL refuses to invent one, with a clear error', async () => {
        await assert.rejects(target.usermeta.allocateUserId(), (error: Error) => error instanceof DirectoryError && /--wp-user-id/.test(error.message));
      });
    } else {
      test('a new user without a WordPress user id gets the next free one', async () => {
        const id = await target.usermeta.allocateUserId();
        assert.match(id, /^\d+$/);
        assert.deepEqual(await target.usermeta.findUserIds(META_KEYS.uuidMetaKey, 'nobody'), []);
      });
    }
  });
}

describe('an unreachable directory throws BackendUnavailableError at once', () => {
  test('sqlite, closed', async () => {
    const data = makeDataDir();
    const target = sqliteDirectoryTarget(data.dir);
    await target.close();
    data.remove();
    await assert.rejects(target.usermeta.read('1', 'devices'), BackendUnavailableError);
    await assert.rejects(target.usermeta.update('1', 'devices', () => 'x'), BackendUnavailableError);
  });

  test('mysql, nothing listening', { skip: mariadbSkip }, async () => {
    const port = await freePort();
    const { usermeta } = openMysqlDirectory({ host: '127.0.0.1', port, database: 'wordpress', user: 'wp', password: 'x' }, 'wp_', pino({ level: 'silent' }));
    try {
      await assertEachRefusedBefore(
        {
          findUserIds: () => usermeta.findUserIds('uuid', 'x'),
          read: () => usermeta.read('1', 'devices'),
          update: () => usermeta.update('1', 'devices', () => 'x'),
          insert: () => usermeta.insert('1', 'devices', 'x'),
          ping: () => usermeta.ping(),
        },
        BackendUnavailableError,
        MYSQL_CONNECT_TIMEOUT_MS,
      );
    } finally {
      await usermeta.close();
    }
  });

  test('mysql with a wrong table prefix is not ready (the table is part of the ping)', { skip: mariadbSkip }, async () => {
    const server = await mariadb();
    const { usermeta } = openMysqlDirectory(
      { host: server.host, port: server.port, database: server.database, user: server.user, password: server.password },
      'nope_',
      pino({ level: 'silent' }),
    );
    try {
      await assert.rejects(usermeta.ping(), BackendUnavailableError);
    } finally {
      await usermeta.close();
    }
  });
});
