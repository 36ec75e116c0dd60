import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  addDevice,
  describeProblem,
  DeviceListError,
  findDevice,
  listDevices,
  removeDevice,
  setDeviceStatus,
  type DeviceListErrorCode,
} from '../../src/directory/device-list.js';
import { deviceVectors } from '../helpers/vectors.js';
import {
  parsePhp,
  phpKeyIdentity,
  serializePhp,
  type PhpEntry,
  type PhpKey,
  type PhpValue,
} from '../../src/directory/php-serialize.js';

const fixtures = deviceVectors;

const MAP = 'a:2:{s:8:"phone-01";a:2:{s:4:"name";s:5:"Phone";s:6:"status";s:3:"off";}s:3:"tab";a:2:{s:4:"name";s:6:"Tablet";s:6:"status";s:2:"on";}}';
const LIST = 'a:2:{i:0;a:3:{s:2:"id";s:2:"a1";s:4:"name";s:4:"Desk";s:6:"status";s:3:"off";}i:1;a:3:{s:2:"id";s:2:"b2";s:4:"name";s:3:"Car";s:6:"status";s:3:"off";}}';

function throwsCode(fn: () => unknown, code: DeviceListErrorCode): void {
  assert.throws(fn, (error: unknown) => error instanceof DeviceListError && error.code === code);
}

describe('fixtures (PHP 8.2 serialize)', () => {
  for (const c of fixtures.cases) {
    test(c.name, () => {
      assert.equal(describeProblem(c.meta_value), null);
      const found = findDevice(c.meta_value, c.device_id);
      assert.equal(found !== null, c.found);
      assert.equal(found?.name ?? null, c.device_name);
      const result = setDeviceStatus(c.meta_value, c.device_id, c.set_status);
      assert.equal(result.found, c.found);
      assert.equal(result.name, c.device_name);
      assert.equal(result.metaValue, c.meta_value_after);
      if (c.found) assert.equal(findDevice(result.metaValue, c.device_id)?.status, c.set_status);
    });
  }

  for (const c of fixtures.malformed) {
    test(`malformed: ${c.name}`, () => {
      assert.equal(findDevice(c.meta_value, 'phone-01'), null);
      assert.deepEqual(listDevices(c.meta_value), []);
      const result = setDeviceStatus(c.meta_value, 'phone-01', 'on');
      assert.deepEqual(result, { found: false, name: null, metaValue: c.meta_value });
      assert.equal(typeof describeProblem(c.meta_value), 'string');
      throwsCode(() => addDevice(c.meta_value, 'new', 'New'), 'malformed');
      throwsCode(() => removeDevice(c.meta_value, 'phone-01'), 'malformed');
    });
  }
});

describe('reading', () => {
  test('problems are described for the log', () => {
    assert.match(describeProblem('O:8:"stdClass":1:{s:4:"name";s:1:"x";}') ?? '', /^object at byte 0$/);
    assert.match(describeProblem('s:5:"hello";') ?? '', /not an array/);
    assert.equal(describeProblem(null), null);
    assert.equal(describeProblem(''), null);
    assert.equal(describeProblem(MAP), null);
  });

  test('an absent or empty value holds no devices', () => {
    assert.equal(findDevice(null, 'x'), null);
    assert.equal(findDevice('', 'x'), null);
    assert.deepEqual(listDevices(null), []);
    assert.deepEqual(setDeviceStatus(null, 'x', 'on'), { found: false, name: null, metaValue: null });
    assert.deepEqual(setDeviceStatus('', 'x', 'on'), { found: false, name: null, metaValue: '' });
  });

  test('lists both shapes', () => {
    assert.deepEqual(listDevices(MAP), [
      { id: 'phone-01', name: 'Phone', status: 'off' },
      { id: 'tab', name: 'Tablet', status: 'on' },
    ]);
    assert.deepEqual(listDevices(LIST), [
      { id: 'a1', name: 'Desk', status: 'off' },
      { id: 'b2', name: 'Car', status: 'off' },
    ]);
  });

  test('names: int and float shown as text, null or missing is the id', () => {
    const value =
      'a:4:{s:1:"a";a:1:{s:4:"name";i:42;}s:1:"b";a:1:{s:4:"name";d:1.5;}s:1:"c";a:1:{s:4:"name";N;}s:1:"d";a:1:{s:6:"status";b:1;}}';
    assert.deepEqual(listDevices(value), [
      { id: 'a', name: '42', status: null },
      { id: 'b', name: '1.5', status: null },
      { id: 'c', name: 'c', status: null },
      { id: 'd', name: 'd', status: null },
    ]);
  });

  test('a list id may be an int', () => {
    const value = 'a:1:{i:0;a:2:{s:2:"id";i:77;s:4:"name";s:1:"N";}}';
    assert.deepEqual(findDevice(value, '77'), { name: 'N', status: null, secretSha256: null });
    assert.equal(findDevice(value, '077'), null);
    assert.equal(
      setDeviceStatus(value, '77', 'on').metaValue,
      'a:1:{i:0;a:3:{s:2:"id";i:77;s:4:"name";s:1:"N";s:6:"status";s:2:"on";}}',
    );
  });

  test('map keys follow PHP key rules', () => {
    const value = 'a:2:{i:5;a:1:{s:4:"name";s:4:"five";}s:2:"05";a:1:{s:4:"name";s:9:"zero-five";}}';
    assert.equal(findDevice(value, '5')?.name, 'five');
    assert.equal(findDevice(value, '05')?.name, 'zero-five');
    assert.equal(findDevice(value, '+5'), null);
  });

  test('keys 0..n-1 without id entries are a map', () => {
    const value = 'a:2:{i:0;a:1:{s:4:"name";s:4:"zero";}i:1;a:1:{s:4:"name";s:3:"one";}}';
    assert.deepEqual(listDevices(value).map((d) => d.id), ['0', '1']);
    assert.equal(findDevice(value, '1')?.name, 'one');
  });

  test('entries that are not arrays are not devices', () => {
    const value = 'a:2:{s:1:"x";s:3:"odd";s:1:"y";a:1:{s:4:"name";s:1:"Y";}}';
    assert.equal(findDevice(value, 'x'), null);
    assert.deepEqual(setDeviceStatus(value, 'x', 'on'), { found: false, name: null, metaValue: value });
    assert.deepEqual(listDevices(value), [{ id: 'y', name: 'Y', status: null }]);
  });

  test('a non-string status is replaced in place', () => {
    const value = 'a:1:{s:1:"p";a:2:{s:6:"status";i:1;s:4:"name";s:1:"P";}}';
    assert.equal(findDevice(value, 'p')?.status, null);
    assert.equal(setDeviceStatus(value, 'p', 'off').metaValue, 'a:1:{s:1:"p";a:2:{s:6:"status";s:3:"off";s:4:"name";s:1:"P";}}');
  });

  test('nothing is ever instantiated, even nested', () => {
    const value = 'a:1:{s:1:"p";a:2:{s:4:"name";s:1:"P";s:5:"extra";O:8:"stdClass":0:{}}}';
    assert.equal(findDevice(value, 'p'), null);
    assert.match(describeProblem(value) ?? '', /^object at byte/);
  });
});

describe('addDevice', () => {
  test('an absent or empty value starts a map', () => {
    const expected = 'a:1:{s:8:"phone-01";a:2:{s:4:"name";s:5:"Phone";s:6:"status";s:3:"off";}}';
    assert.equal(addDevice(null, 'phone-01', 'Phone'), expected);
    assert.equal(addDevice('', 'phone-01', 'Phone'), expected);
    assert.equal(addDevice('a:0:{}', 'phone-01', 'Phone'), expected);
  });

  test('appends to a map, with an int key for a canonical decimal id', () => {
    const after = addDevice(MAP, '1234', 'Zoë 📱');
    assert.equal(after, MAP.replace(/^a:2:/, 'a:3:').replace(/}$/, 'i:1234;a:2:{s:4:"name";s:9:"Zoë 📱";s:6:"status";s:3:"off";}}'));
    assert.equal(findDevice(after, '1234')?.name, 'Zoë 📱');
    const stringKey = addDevice(MAP, '0123', 'Z');
    assert.match(stringKey, /s:4:"0123";a:2:/);
    assert.match(addDevice(MAP, '-0', 'Z'), /s:2:"-0";a:2:/);
    assert.match(addDevice(MAP, '-7', 'Z'), /i:-7;a:2:/);
    assert.match(addDevice(MAP, '9223372036854775808', 'Z'), /s:19:"9223372036854775808";/);
  });

  test('appends to a list with the next index', () => {
    const after = addDevice(LIST, 'c3', 'Watch');
    assert.equal(
      after,
      LIST.replace(/^a:2:/, 'a:3:').replace(/}$/, 'i:2;a:3:{s:2:"id";s:2:"c3";s:4:"name";s:5:"Watch";s:6:"status";s:3:"off";}}'),
    );
    assert.deepEqual(listDevices(after).map((d) => d.id), ['a1', 'b2', 'c3']);
  });

  test('an existing id is refused', () => {
    throwsCode(() => addDevice(MAP, 'tab', 'Again'), 'exists');
    throwsCode(() => addDevice(LIST, 'a1', 'Again'), 'exists');
    throwsCode(() => addDevice('a:1:{i:1234;a:0:{}}', '1234', 'Again'), 'exists');
    // The slot is taken even by a non-device value: adding would overwrite it.
    throwsCode(() => addDevice('a:1:{s:1:"x";s:3:"odd";}', 'x', 'X'), 'exists');
  });
});

describe('removeDevice', () => {
  test('from a map', () => {
    assert.equal(removeDevice(MAP, 'phone-01'), 'a:1:{s:3:"tab";a:2:{s:4:"name";s:6:"Tablet";s:6:"status";s:2:"on";}}');
    assert.equal(removeDevice('a:1:{i:1234;a:0:{}}', '1234'), 'a:0:{}');
  });

  test('from a list, renumbered so it stays a list', () => {
    const three = addDevice(LIST, 'c3', 'Watch');
    const after = removeDevice(three, 'a1');
    assert.equal(
      after,
      'a:2:{i:0;a:3:{s:2:"id";s:2:"b2";s:4:"name";s:3:"Car";s:6:"status";s:3:"off";}i:1;a:3:{s:2:"id";s:2:"c3";s:4:"name";s:5:"Watch";s:6:"status";s:3:"off";}}',
    );
    assert.deepEqual(listDevices(after).map((d) => d.id), ['b2', 'c3']);
    assert.equal(removeDevice(removeDevice(after, 'c3'), 'b2'), 'a:0:{}');
  });

  test('an unknown id is refused', () => {
    throwsCode(() => removeDevice(MAP, 'nope'), 'not-found');
    throwsCode(() => removeDevice(LIST, 'nope'), 'not-found');
    throwsCode(() => removeDevice(null, 'nope'), 'not-found');
    throwsCode(() => removeDevice('', 'nope'), 'not-found');
  });
});

// Generators for the property test: values are built from text, because the
// devices value travels as a JS string and arbitrary bytes are not valid UTF-8.

const text = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 10 }), fc.constantFrom('on', 'off', 'name', 'status', 'id', '12', ''));
const intText = fc.oneof(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String), fc.integer({ min: 0, max: 20 }).map(String));

const { value: anyValue } = fc.letrec<{ value: PhpValue; array: PhpValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 3 },
    fc.constant<PhpValue>({ kind: 'null' }),
    fc.boolean().map((value): PhpValue => ({ kind: 'bool', value })),
    intText.map((t): PhpValue => ({ kind: 'int', text: t })),
    fc.constantFrom('0.25', '-0', 'INF', 'NAN', '1.0E+25').map((t): PhpValue => ({ kind: 'float', text: t })),
    text.map((t): PhpValue => ({ kind: 'string', bytes: Buffer.from(t) })),
    tie('array'),
  ),
  array: fc.uniqueArray(entryArb(tie('value')), { maxLength: 4, selector: (e) => phpKeyIdentity(e.key) }).map(
    (entries): PhpValue => ({ kind: 'array', entries }),
  ),
}));

function entryArb(value: fc.Arbitrary<PhpValue>): fc.Arbitrary<PhpEntry> {
  return fc.tuple(keyArb(), value).map(([k, v]) => ({ key: k, value: v }));
}

// A function, not a const: letrec above calls entryArb before this line would run.
function keyArb(): fc.Arbitrary<PhpKey> {
  return fc.oneof(
    intText.map((t): PhpKey => ({ kind: 'int', text: t })),
    text.map((t): PhpKey => ({ kind: 'string', bytes: Buffer.from(t) })),
  );
}

const strKey = (name: string): PhpKey => ({ kind: 'string', bytes: Buffer.from(name) });
const statusValue = fc.oneof(
  fc.constantFrom('on', 'off').map((t): PhpValue => ({ kind: 'string', bytes: Buffer.from(t) })),
  anyValue,
);

// A device's fields: maybe name, maybe status, maybe id, and unknown extras, in any order.
function deviceFields(id: fc.Arbitrary<PhpValue> | null): fc.Arbitrary<PhpValue> {
  return fc
    .tuple(
      fc.option(anyValue),
      fc.option(statusValue),
      id === null ? fc.constant(null) : id,
      fc.uniqueArray(entryArb(anyValue), { maxLength: 3, selector: (e) => phpKeyIdentity(e.key) }),
    )
    .chain(([name, status, idValue, extras]) => {
      const reserved = new Set(['name', 'status', 'id'].map((n) => phpKeyIdentity(strKey(n))));
      const fields: PhpEntry[] = extras.filter((e) => !reserved.has(phpKeyIdentity(e.key)));
      if (name !== null) fields.push({ key: strKey('name'), value: name });
      if (status !== null) fields.push({ key: strKey('status'), value: status });
      if (idValue !== null) fields.push({ key: strKey('id'), value: idValue });
      return fc.shuffledSubarray(fields, { minLength: fields.length, maxLength: fields.length });
    })
    .map((entries): PhpValue => ({ kind: 'array', entries }));
}

const mapShape: fc.Arbitrary<PhpValue> = fc
  .uniqueArray(fc.tuple(keyArb(), fc.oneof(deviceFields(null), deviceFields(null), anyValue)), {
    maxLength: 5,
    selector: ([key]) => phpKeyIdentity(key),
  })
  .map((pairs): PhpValue => ({ kind: 'array', entries: pairs.map(([key, value]) => ({ key, value })) }));

const listShape: fc.Arbitrary<PhpValue> = fc
  .uniqueArray(
    fc.oneof(
      text.map((t): PhpValue => ({ kind: 'string', bytes: Buffer.from(t) })),
      intText.map((t): PhpValue => ({ kind: 'int', text: t })),
    ),
    { minLength: 1, maxLength: 5, selector: (v) => (v.kind === 'string' ? v.bytes.toString() : v.kind === 'int' ? BigInt(v.text).toString() : '') },
  )
  .chain((ids) => fc.tuple(...ids.map((id) => deviceFields(fc.constant(id)))))
  .map((devices): PhpValue => ({
    kind: 'array',
    entries: devices.map((value, i) => ({ key: { kind: 'int', text: String(i) }, value })),
  }));

function entriesOf(value: PhpValue): PhpEntry[] {
  assert.equal(value.kind, 'array');
  return value.kind === 'array' ? value.entries : [];
}

// After setting a status, exactly the target device's `status` may differ:
// same value in place, or one `status` entry appended at the end.
function assertOnlyStatusChanged(before: string, after: string, status: 'on' | 'off'): void {
  const b = entriesOf(parsePhp(before));
  const a = entriesOf(parsePhp(after));
  assert.equal(a.length, b.length);
  let changed = 0;
  for (let i = 0; i < b.length; i++) {
    const be = b[i];
    const ae = a[i];
    assert.ok(be !== undefined && ae !== undefined);
    assert.deepEqual(ae.key, be.key);
    if (serializePhp(ae.value).equals(serializePhp(be.value))) continue;
    changed++;
    const bf = entriesOf(be.value);
    const af = entriesOf(ae.value);
    const isStatus = (e: PhpEntry | undefined): boolean => e !== undefined && e.key.kind === 'string' && e.key.bytes.toString() === 'status';
    const expectedStatus: PhpValue = { kind: 'string', bytes: Buffer.from(status) };
    const at = bf.findIndex(isStatus);
    if (at >= 0) {
      assert.equal(af.length, bf.length);
      assert.deepEqual(af[at], { key: bf[at]?.key, value: expectedStatus });
      assert.deepEqual([...af.slice(0, at), ...af.slice(at + 1)], [...bf.slice(0, at), ...bf.slice(at + 1)]);
    } else {
      assert.deepEqual(af.slice(0, -1), bf);
      assert.deepEqual(af.at(-1), { key: strKey('status'), value: expectedStatus });
    }
  }
  assert.ok(changed <= 1);
}

describe('properties', () => {
  test('setting a status changes only that status, and twice is the same as once', () => {
    fc.assert(
      fc.property(fc.oneof(mapShape, listShape), fc.nat(), fc.constantFrom<'on' | 'off'>('on', 'off'), (root, pick, status) => {
        const before = serializePhp(root).toString('utf8');
        const devices = listDevices(before);
        const missing = setDeviceStatus(before, '\u0000not-a-device', status);
        assert.deepEqual(missing, { found: false, name: null, metaValue: before });
        if (devices.length === 0) return;
        const device = devices[pick % devices.length];
        assert.ok(device !== undefined);
        assert.deepEqual(findDevice(before, device.id), { name: device.name, status: device.status, secretSha256: null });
        const once = setDeviceStatus(before, device.id, status);
        assert.equal(once.found, true);
        assert.equal(once.name, device.name);
        assertOnlyStatusChanged(before, once.metaValue ?? '', status);
        assert.equal(findDevice(once.metaValue, device.id)?.status, status);
        const twice = setDeviceStatus(once.metaValue, device.id, status);
        assert.equal(twice.metaValue, once.metaValue);
        if (device.status === status) assert.equal(once.metaValue, before);
      }),
      { numRuns: 500 },
    );
  });

  test('add then remove gives back the same value', () => {
    fc.assert(
      fc.property(fc.oneof(mapShape, listShape), text, text, (root, id, name) => {
        const before = serializePhp(root).toString('utf8');
        let added: string;
        try {
          added = addDevice(before, id, name);
        } catch (error) {
          assert.ok(error instanceof DeviceListError && error.code === 'exists');
          return;
        }
        assert.deepEqual(findDevice(added, id), { name, status: 'off', secretSha256: null });
        assert.equal(removeDevice(added, id), before);
      }),
      { numRuns: 500 },
    );
  });
});
