/**
 * The directory defect of issue 9, proven with PHP's own serialize(): device lists whose integer
 * keys are not 0..n-1 (unset() holes, keys out of order) or that hold stray non-array entries
 * still find each device by its `id`, and the status is written back with every other byte as
 * PHP would write it. The fixture (test/fixtures/device-list-holes.json) is made by php -r from
 * device-list-holes.php-cases.json; when php is installed this test makes it again and compares.
 *
 *   REGENERATE_PHP_FIXTURES=1 node scripts/run-tests.mjs test/directory/php-fixtures.test.ts
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addDevice, findDevice, listDevices, setDeviceStatus } from '../../src/directory/device-list.js';
import { findBinary } from '../helpers/real-backends.js';
import { REPO_ROOT } from '../helpers/server-process.js';
import { DEVICE_LIST_HOLES_FILE, holesVectors, type HolesCase } from '../helpers/vectors.js';

interface PhpCase {
  name: string;
  build: string;
  device_id: string;
  device_name: string | null;
  update: string | null;
  add: { id: string; name: string } | null;
}

type Fixture = HolesCase;

const CASES = join(REPO_ROOT, 'test/fixtures/device-list-holes.php-cases.json');
const FIXTURE = join(REPO_ROOT, 'test/fixtures', DEVICE_LIST_HOLES_FILE);

function php(code: string): string {
  const result = spawnSync('php', ['-r', code], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`php failed: ${result.stderr}${result.stdout}`);
  return result.stdout;
}

/** Runs each case through PHP: serialize() of $d, of $d after the update, of $d after `$d[] = …`. */
function generate(): { php_version: string; cases: Fixture[] } {
  const { cases } = JSON.parse(readFileSync(CASES, 'utf8')) as { cases: PhpCase[] };
  const generated = cases.map((c): Fixture => {
    // On the value as read back from the database, as WordPress has it: PHP numbers `$d[]` from the largest key + 1.
    const add = c.add === null ? 'null' : `(function ($d) { $d = unserialize(serialize($d)); $d[] = ['id' => ${JSON.stringify(c.add.id)}, 'name' => ${JSON.stringify(c.add.name)}, 'status' => 'off']; return serialize($d); })($d)`;
    const update = c.update === null ? 'null' : `(function ($d) { ${c.update} return serialize($d); })($d)`;
    const out = php(`${c.build} echo json_encode(['meta_value' => serialize($d), 'after' => ${update}, 'added' => ${add}]);`);
    const { meta_value, after, added } = JSON.parse(out) as { meta_value: string; after: string | null; added: string | null };
    return {
      name: c.name,
      device_id: c.device_id,
      device_name: c.device_name,
      meta_value,
      meta_value_after: after,
      add: c.add === null || added === null ? null : { ...c.add, meta_value_after: added },
    };
  });
  return { php_version: php('echo PHP_VERSION;'), cases: generated };
}

const hasPhp = findBinary('php') !== null;
if (hasPhp && process.env.REGENERATE_PHP_FIXTURES === '1') writeFileSync(FIXTURE, `${JSON.stringify(generate(), null, 2)}\n`);
const fixture = holesVectors();

describe('device lists with holes and stray entries, as PHP serialize() writes them', () => {
  test('the committed fixture is what php makes of the cases', { skip: hasPhp ? false : 'php not installed (php-cli)' }, () => {
    const fresh = generate();
    assert.deepEqual(fresh.cases, fixture.cases);
  });

  for (const c of fixture.cases) {
    test(c.name, () => {
      const found = findDevice(c.meta_value, c.device_id);
      assert.equal(found?.name ?? null, c.device_name);
      const set = setDeviceStatus(c.meta_value, c.device_id, 'on');
      if (c.meta_value_after === null) {
        assert.deepEqual(set, { found: false, name: null, metaValue: c.meta_value });
      } else {
        assert.equal(set.found, true);
        assert.equal(set.metaValue, c.meta_value_after, 'status written back exactly as PHP writes it');
        assert.equal(findDevice(set.metaValue, c.device_id)?.status, 'on');
      }
      // Every device the listing shows can be found by the id it shows (the first, where an id repeats).
      const listed = listDevices(c.meta_value).filter((device, i, all) => all.findIndex((d) => d.id === device.id) === i);
      for (const device of listed) assert.equal(findDevice(c.meta_value, device.id)?.name, device.name);
      if (c.add !== null) assert.equal(addDevice(c.meta_value, c.add.id, c.add.name), c.add.meta_value_after, '$d[] = … as PHP does it');
    });
  }
});
