/** The conformance vectors of test/fixtures (copied from ../shared/vectors), typed and loaded once for every suite. */
import { readFileSync } from 'node:fs';

export interface EnvelopeVectors {
  user_id: string;
  device_id: string;
  key: string;
  private_key: string;
  valid: Array<{ name: string; message: string; plaintext: string; canonical_minute: string; id: string }>;
  invalid: Array<{ name: string; message: string }>;
}

export interface DeviceVectors {
  cases: Array<{
    name: string;
    meta_value: string;
    device_id: string;
    found: boolean;
    device_name: string | null;
    set_status: 'on' | 'off';
    meta_value_after: string;
  }>;
  malformed: Array<{ name: string; meta_value: string }>;
}

const load = (name: string): unknown => JSON.parse(readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8'));

/** envelopes.json: made with pyca/cryptography. */
export const envelopeVectors = load('envelopes.json') as EnvelopeVectors;
/** devices.json: made with PHP's own serialize(). */
export const deviceVectors = load('devices.json') as DeviceVectors;

/** One case of device-list-holes.json: a list with unset() holes or stray entries, as php -r wrote it. */
export interface HolesCase {
  name: string;
  device_id: string;
  device_name: string | null;
  meta_value: string;
  /** The value after the device's status is set `on`; null when there is no such device. */
  meta_value_after: string | null;
  add: { id: string; name: string; meta_value_after: string } | null;
}

/** device-list-holes.json: made by php -r (test/directory/php-fixtures.test.ts makes it again where php is installed). */
export const DEVICE_LIST_HOLES_FILE = 'device-list-holes.json';
export const holesVectors = (): { php_version: string; cases: HolesCase[] } =>
  load(DEVICE_LIST_HOLES_FILE) as { php_version: string; cases: HolesCase[] };
