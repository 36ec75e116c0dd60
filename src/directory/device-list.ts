// The WordPress `devices` usermeta value (SPEC §3): a PHP-serialized array of
// the user's devices, in one of two shapes that plugins use:
//   map:  device_id => array('name' => ..., 'status' => 'on'|'off', ...)
//   list: i => array('id' => device_id, 'name' => ..., 'status' => ..., ...)
// Every edit here changes only what it must and keeps the rest of the value
// byte for byte (other devices, unknown entries, order, types, key types).

import {
  canonicalIntText,
  parsePhp,
  phpKeyFromString,
  phpKeyIdentity,
  phpString,
  phpStringKey,
  PhpUnserializeError,
  serializePhp,
  type PhpEntry,
  type PhpValue,
} from './php-serialize.js';

/** A device as the directory reports it. */
export interface DeviceInfo {
  id: string;
  name: string;
  status: string | null;
}

/** Outcome of setDeviceStatus: the value to write back when found, else the input untouched. */
export type SetStatusResult =
  | { found: true; name: string; metaValue: string }
  | { found: false; name: null; metaValue: string | null };

/** Why addDevice/removeDevice refused: the id is taken, unknown, or the stored value is unusable. */
export type DeviceListErrorCode = 'exists' | 'not-found' | 'malformed';

/** Thrown by addDevice and removeDevice; they never overwrite a value they cannot read. */
export class DeviceListError extends Error {
  override readonly name = 'DeviceListError';

  constructor(
    readonly code: DeviceListErrorCode,
    message: string,
  ) {
    super(message);
  }
}

type ArrayValue = Extract<PhpValue, { kind: 'array' }>;
type Shape = 'map' | 'list';

interface Parsed {
  root: ArrayValue;
  shape: Shape;
}

type ReadResult = { ok: true; parsed: Parsed | null } | { ok: false; problem: string };

const NAME = 'name';
const STATUS = 'status';
const ID = 'id';

/** Why a devices value is unusable (e.g. "object at byte 0"), or null when usable, absent or empty. */
export function describeProblem(metaValue: string | null): string | null {
  const read = readValue(metaValue);
  return read.ok ? null : read.problem;
}

/** The device's display name and status, or null when absent or the value is unusable. */
export function findDevice(metaValue: string | null, deviceId: string): { name: string; status: string | null } | null {
  const read = readValue(metaValue);
  if (!read.ok || read.parsed === null) return null;
  const device = locate(read.parsed, deviceId);
  if (device === null) return null;
  return { name: deviceName(device.fields, deviceId), status: deviceStatus(device.fields) };
}

/** Sets one device's `status` in place (appended when missing), keeping every other byte. */
export function setDeviceStatus(
  metaValue: string | null,
  deviceId: string,
  status: 'on' | 'off',
): SetStatusResult {
  const notFound: SetStatusResult = { found: false, name: null, metaValue };
  const read = readValue(metaValue);
  if (!read.ok || read.parsed === null) return notFound;
  const device = locate(read.parsed, deviceId);
  if (device === null) return notFound;
  const name = deviceName(device.fields, deviceId);
  const existing = device.fields.entries.find((e) => isStringKey(e, STATUS));
  if (existing !== undefined) existing.value = phpString(status);
  else device.fields.entries.push({ key: phpStringKey(STATUS), value: phpString(status) });
  return { found: true, name, metaValue: serializePhp(read.parsed.root).toString('utf8') };
}

/** Every device in the value, in stored order; an unusable value lists none. */
export function listDevices(metaValue: string | null): DeviceInfo[] {
  const read = readValue(metaValue);
  if (!read.ok || read.parsed === null) return [];
  const { root, shape } = read.parsed;
  const devices: DeviceInfo[] = [];
  for (const entry of root.entries) {
    if (entry.value.kind !== 'array') continue;
    const id = shape === 'map' ? keyText(entry) : idText(entry.value);
    if (id === null) continue;
    devices.push({ id, name: deviceName(entry.value, id), status: deviceStatus(entry.value) });
  }
  return devices;
}

/** Adds a device with status 'off' in the stored shape (absent/empty starts a map); throws DeviceListError. */
export function addDevice(metaValue: string | null, deviceId: string, name: string): string {
  const parsed = readForEdit(metaValue) ?? { root: { kind: 'array', entries: [] }, shape: 'map' };
  const { root, shape } = parsed;
  if (shape === 'map') {
    // Any entry under that key counts as taken, device or not: adding would overwrite it.
    const key = phpKeyFromString(deviceId);
    const identity = phpKeyIdentity(key);
    if (root.entries.some((e) => phpKeyIdentity(e.key) === identity)) {
      throw new DeviceListError('exists', `device ${JSON.stringify(deviceId)} already exists`);
    }
    root.entries.push({
      key,
      value: { kind: 'array', entries: [field(NAME, phpString(name)), field(STATUS, phpString('off'))] },
    });
  } else {
    if (locate(parsed, deviceId) !== null) {
      throw new DeviceListError('exists', `device ${JSON.stringify(deviceId)} already exists`);
    }
    root.entries.push({
      key: { kind: 'int', text: String(root.entries.length) },
      value: {
        kind: 'array',
        entries: [field(ID, phpString(deviceId)), field(NAME, phpString(name)), field(STATUS, phpString('off'))],
      },
    });
  }
  return serializePhp(root).toString('utf8');
}

/** Removes a device (a list is renumbered 0..n-1 like array_values); throws DeviceListError. */
export function removeDevice(metaValue: string | null, deviceId: string): string {
  const parsed = readForEdit(metaValue);
  const notFound = new DeviceListError('not-found', `no device ${JSON.stringify(deviceId)}`);
  if (parsed === null) throw notFound;
  const { root, shape } = parsed;
  if (shape === 'map') {
    // Removes whatever sits under that key, so an admin can clear a slot that is not a device array.
    const identity = phpKeyIdentity(phpKeyFromString(deviceId));
    const index = root.entries.findIndex((e) => phpKeyIdentity(e.key) === identity);
    if (index < 0) throw notFound;
    root.entries.splice(index, 1);
  } else {
    const device = locate(parsed, deviceId);
    if (device === null) throw notFound;
    root.entries.splice(device.index, 1);
    for (let i = device.index; i < root.entries.length; i++) {
      const entry = root.entries[i];
      if (entry !== undefined) entry.key = { kind: 'int', text: String(i) };
    }
  }
  return serializePhp(root).toString('utf8');
}

// null means "no devices yet" (no row, or an empty column); a failure carries the reason to log.
function readValue(metaValue: string | null): ReadResult {
  if (metaValue === null || metaValue === '') return { ok: true, parsed: null };
  let root: PhpValue;
  try {
    root = parsePhp(metaValue);
  } catch (error) {
    if (error instanceof PhpUnserializeError) return { ok: false, problem: error.message };
    throw error;
  }
  if (root.kind !== 'array') return { ok: false, problem: `top value is ${root.kind}, not an array` };
  return { ok: true, parsed: { root, shape: shapeOf(root) } };
}

function readForEdit(metaValue: string | null): Parsed | null {
  const read = readValue(metaValue);
  if (!read.ok) throw new DeviceListError('malformed', `devices value unusable: ${read.problem}`);
  return read.parsed;
}

// The shape rule: a list when there is at least one entry, the keys are the
// ints 0..n-1 in order, and every value is an array with an `id` entry;
// anything else (including an empty array) is a map. A map keyed 0..n-1 whose
// devices all carry an `id` field is indistinguishable from a list and is
// read as one.
function shapeOf(root: ArrayValue): Shape {
  if (root.entries.length === 0) return 'map';
  const isList = root.entries.every(
    (entry, i) =>
      entry.key.kind === 'int' &&
      canonicalIntText(entry.key.text) === String(i) &&
      entry.value.kind === 'array' &&
      entry.value.entries.some((e) => isStringKey(e, ID)),
  );
  return isList ? 'list' : 'map';
}

// Only array values are devices; in a list the first item whose id matches wins.
function locate(parsed: Parsed, deviceId: string): { index: number; fields: ArrayValue } | null {
  const { root, shape } = parsed;
  // PHP's $devices[$id] normalizes the id the same way, so "1234" finds i:1234.
  const wanted = shape === 'map' ? phpKeyIdentity(phpKeyFromString(deviceId)) : null;
  for (let index = 0; index < root.entries.length; index++) {
    const entry = root.entries[index];
    if (entry === undefined || entry.value.kind !== 'array') continue;
    const matches = wanted !== null ? phpKeyIdentity(entry.key) === wanted : idText(entry.value) === deviceId;
    if (matches) return { index, fields: entry.value };
  }
  return null;
}

function keyText(entry: PhpEntry): string {
  return entry.key.kind === 'int' ? (canonicalIntText(entry.key.text) ?? entry.key.text) : entry.key.bytes.toString('utf8');
}

// A list item's id as the caller would pass it; ids of other types cannot be asked for.
function idText(fields: ArrayValue): string | null {
  const id = fields.entries.find((e) => isStringKey(e, ID))?.value;
  if (id?.kind === 'string') return id.bytes.toString('utf8');
  if (id?.kind === 'int') return canonicalIntText(id.text);
  return null;
}

function deviceName(fields: ArrayValue, deviceId: string): string {
  const name = fields.entries.find((e) => isStringKey(e, NAME))?.value;
  if (name?.kind === 'string') return name.bytes.toString('utf8');
  if (name?.kind === 'int' || name?.kind === 'float') return name.text;
  return deviceId;
}

function deviceStatus(fields: ArrayValue): string | null {
  const status = fields.entries.find((e) => isStringKey(e, STATUS))?.value;
  return status?.kind === 'string' ? status.bytes.toString('utf8') : null;
}

function isStringKey(entry: PhpEntry, name: string): boolean {
  return entry.key.kind === 'string' && entry.key.bytes.equals(Buffer.from(name, 'latin1'));
}

function field(name: string, value: PhpValue): PhpEntry {
  return { key: phpStringKey(name), value };
}
