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
