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
/** SPEC §10: the hex SHA-256 of the device's secret. The WordPress plugin writes the same name. */
const SECRET_SHA256 = 'secret_sha256';
/** SPEC §10: a status only WordPress or the admin command sets, and the server never changes. */
export const REVOKED_STATUS = 'revoked';

/** Why a devices value is unusable (e.g. "object at byte 0"), or null when usable, absent or empty. */
export function describeProblem(metaValue: string | null): string | null {
  const read = readValue(metaValue);
  return read.ok ? null : read.problem;
}

/** A device entry as the protocol reads it: its name, status and the hash of its secret (SPEC §10). */
export interface FoundDevice {
  name: string;
  status: string | null;
  /** The `secret_sha256` entry when it is a string, else null (a device without a secret). */
  secretSha256: string | null;
}

/** The device's display name, status and secret hash, or null when absent or the value is unusable. */
export function findDevice(metaValue: string | null, deviceId: string): FoundDevice | null {
  const read = readValue(metaValue);
  if (!read.ok || read.parsed === null) return null;
  const device = locate(read.parsed, deviceId);
  if (device === null) return null;
  return {
    name: deviceName(device.fields, deviceId),
    status: deviceStatus(device.fields),
    secretSha256: stringField(device.fields, SECRET_SHA256),
  };
}

/**
 * Sets one device's `status` in place (appended when missing), keeping every other byte.
 * A `revoked` device is left alone and reported as not found (SPEC §10: the server never
 * changes a revoked status, and a revoked device has no session).
 */
export function setDeviceStatus(
  metaValue: string | null,
  deviceId: string,
  status: 'on' | 'off',
): SetStatusResult {
  const read = readValue(metaValue);
  if (!read.ok || read.parsed === null) return { found: false, name: null, metaValue };
  const device = locate(read.parsed, deviceId);
  if (device === null || deviceStatus(device.fields) === REVOKED_STATUS) return { found: false, name: null, metaValue };
  return { found: true, name: deviceName(device.fields, deviceId), metaValue: setField(read.parsed, device.fields, STATUS, status) };
}

/**
 * The admin command's edits of one device entry (SPEC §10): its `status` (including `revoked`)
 * or its `secret_sha256`, set in place or appended, every other byte kept. Throws DeviceListError.
 */
export function setDeviceEntry(
  metaValue: string | null,
  deviceId: string,
  entry: 'status' | 'secret_sha256',
  value: string,
): string {
  const parsed = readForEdit(metaValue);
  const device = parsed === null ? null : locate(parsed, deviceId);
  if (parsed === null || device === null) throw new DeviceListError('not-found', `no device ${JSON.stringify(deviceId)}`);
  return setField(parsed, device.fields, entry, value);
}

function setField(parsed: Parsed, fields: ArrayValue, name: string, value: string): string {
  const existing = fields.entries.find((e) => isStringKey(e, name));
  if (existing !== undefined) existing.value = phpString(value);
  else fields.entries.push({ key: phpStringKey(name), value: phpString(value) });
  return serializePhp(parsed.root).toString('utf8');
}

/** Every device in the value, in stored order; an unusable value lists none. */
export function listDevices(metaValue: string | null): DeviceInfo[] {
  const read = readValue(metaValue);
  if (!read.ok || read.parsed === null) return [];
  const { root, shape } = read.parsed;
  const devices: DeviceInfo[] = [];
  for (const entry of root.entries) {
    if (entry.value.kind !== 'array') continue;
    // As locate() finds them: a list item by its `id`, an item without one by its key.
    const id = shape === 'list' && hasId(entry.value) ? idText(entry.value) : keyText(entry);
    if (id === null) continue;
    devices.push({ id, name: deviceName(entry.value, id), status: deviceStatus(entry.value) });
  }
  return devices;
}

/**
 * Adds a device with status 'off' in the stored shape (absent/empty starts a map), with a
 * `secret_sha256` entry when one is given; throws DeviceListError.
 */
export function addDevice(metaValue: string | null, deviceId: string, name: string, secretSha256?: string): string {
  const secret = secretSha256 === undefined ? [] : [field(SECRET_SHA256, phpString(secretSha256))];
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
      value: { kind: 'array', entries: [field(NAME, phpString(name)), field(STATUS, phpString('off')), ...secret] },
    });
  } else {
    if (locate(parsed, deviceId) !== null) {
      throw new DeviceListError('exists', `device ${JSON.stringify(deviceId)} already exists`);
    }
    // PHP's `$devices[] = …`: one past the largest integer key, so a list with holes gets no clash.
    root.entries.push({
      key: { kind: 'int', text: String(nextListIndex(root)) },
      value: {
        kind: 'array',
        entries: [field(ID, phpString(deviceId)), field(NAME, phpString(name)), field(STATUS, phpString('off')), ...secret],
      },
    });
  }
  return serializePhp(root).toString('utf8');
}

/**
 * Removes a device; throws DeviceListError. A list keyed exactly 0..n-1 is renumbered like
 * array_values(); a list that already has holes keeps every other key, as PHP's unset() does.
 */
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
    const contiguous = isContiguous(root);
    root.entries.splice(device.index, 1);
    for (let i = device.index; contiguous && i < root.entries.length; i++) {
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

// The shape rule (docs/PROTOCOL.md "Directory"): a list when every key is an integer (in any
// order, with holes left by PHP's unset()) and at least one value is an array with an `id`
// entry; anything else (a string key anywhere, no `id` at all, an empty array) is a map.
// Values that are not arrays (stray entries plugins leave) are never devices, and are kept.
function shapeOf(root: ArrayValue): Shape {
  const isList =
    root.entries.every((entry) => entry.key.kind === 'int') &&
    root.entries.some((entry) => entry.value.kind === 'array' && hasId(entry.value));
  return isList ? 'list' : 'map';
}

function hasId(fields: ArrayValue): boolean {
  return fields.entries.some((e) => isStringKey(e, ID));
}

/** True when the keys are exactly the ints 0..n-1 in order (a list no unset() has touched). */
function isContiguous(root: ArrayValue): boolean {
  return root.entries.every((entry, i) => entry.key.kind === 'int' && canonicalIntText(entry.key.text) === String(i));
}

function nextListIndex(root: ArrayValue): bigint {
  let next = 0n;
  for (const entry of root.entries) {
    if (entry.key.kind !== 'int') continue;
    const index = BigInt(canonicalIntText(entry.key.text) ?? '0');
    if (index >= next) next = index + 1n;
  }
  return next;
}

// Only array values are devices. In a map, the entry under the device id's PHP key. In a list,
// the first item whose `id` matches; failing that, an item without an `id` under the device
// id's key, so an integer-keyed map that some entries with `id` made list-shaped still finds
// its other devices. An item with an `id` is only ever named by it.
function locate(parsed: Parsed, deviceId: string): { index: number; fields: ArrayValue } | null {
  const { root, shape } = parsed;
  // PHP's $devices[$id] normalizes the id the same way, so "1234" finds i:1234.
  const wantedKey = phpKeyIdentity(phpKeyFromString(deviceId));
  if (shape === 'list') {
    const byId = root.entries.findIndex((entry) => entry.value.kind === 'array' && idText(entry.value) === deviceId);
    if (byId >= 0) return { index: byId, fields: root.entries[byId]!.value as ArrayValue };
  }
  for (let index = 0; index < root.entries.length; index++) {
    const entry = root.entries[index];
    if (entry === undefined || entry.value.kind !== 'array') continue;
    if (shape === 'list' && hasId(entry.value)) continue;
    if (phpKeyIdentity(entry.key) === wantedKey) return { index, fields: entry.value };
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
  return stringField(fields, STATUS);
}

function stringField(fields: ArrayValue, name: string): string | null {
  const value = fields.entries.find((e) => isStringKey(e, name))?.value;
  return value?.kind === 'string' ? value.bytes.toString('utf8') : null;
}

function isStringKey(entry: PhpEntry, name: string): boolean {
  return entry.key.kind === 'string' && entry.key.bytes.equals(Buffer.from(name, 'latin1'));
}

function field(name: string, value: PhpValue): PhpEntry {
  return { key: phpStringKey(name), value };
}
