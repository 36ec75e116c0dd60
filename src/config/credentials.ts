/**
 * The settings of SPEC §10 (device secrets, revocation, failure budgets) and TRUST_PROXY,
 * read with the shared Reader so each is checked once, at start-up.
 */
import { isIP } from 'node:net';
import { ConfigError, type Reader } from './config.js';

export interface CredentialSettings {
  /** REQUIRE_DEVICE_SECRET: devices without `secret_sha256` are `not found`. */
  requireDeviceSecret: boolean;
  /** DIRECTORY_RECHECK_SECONDS: a session's device is looked up again at most this long after the last look; 0 = every request. */
  directoryRecheckSeconds: number;
  /** FAILURE_LIMIT_PER_KEY: failures per client key per window; 0 = off. */
  failureLimitPerKey: number;
  /** FAILURE_LIMIT_PER_ADDRESS: failures per client address per window; 0 = off. */
  failureLimitPerAddress: number;
  /** FAILURE_WINDOW_SECONDS. */
  failureWindowSeconds: number;
}

export function readCredentialSettings(read: Reader): CredentialSettings {
  return {
    requireDeviceSecret: read.boolean('REQUIRE_DEVICE_SECRET', false),
    directoryRecheckSeconds: read.integer('DIRECTORY_RECHECK_SECONDS', 60, 0, 86_400),
    failureLimitPerKey: read.integer('FAILURE_LIMIT_PER_KEY', 30, 0, 1_000_000),
    failureLimitPerAddress: read.integer('FAILURE_LIMIT_PER_ADDRESS', 0, 0, 1_000_000),
    failureWindowSeconds: read.integer('FAILURE_WINDOW_SECONDS', 300, 1, 86_400),
  };
}

/** What Fastify's `trustProxy` is given: no proxy, a number of hops, or the proxies' addresses. */
export type TrustProxy = false | number | string[];

/** Names proxy-addr (Fastify's trustProxy) knows for address ranges. */
const NAMED_RANGES = ['loopback', 'linklocal', 'uniquelocal'];

function isAddressOrCidr(text: string): boolean {
  if (NAMED_RANGES.includes(text)) return true;
  const [address, bits, ...rest] = text.split('/');
  if (address === undefined || rest.length > 0) return false;
  const family = isIP(address);
  if (family === 0) return false;
  if (bits === undefined) return true;
  if (!/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

/**
 * TRUST_PROXY (SPEC §10): `false` (default), a number of trusted hops, or a comma-separated list
 * of proxy addresses/CIDRs. `true` is refused: it believes the left-most X-Forwarded-For entry,
 * which any client writes itself, so every client could choose its own address and budget.
 */
export function readTrustProxy(read: Reader): TrustProxy {
  const value = read.raw('TRUST_PROXY')?.trim();
  if (value === undefined || /^(false|0|no|off)$/i.test(value)) return false;
  if (/^(true|yes|on)$/i.test(value)) {
    throw new ConfigError(
      'TRUST_PROXY',
      'true is refused: it lets any client choose its own address (and failure budget) with X-Forwarded-For; give the number of proxies in front of the server (e.g. 1) or their addresses (e.g. 10.0.0.5,192.168.0.0/16)',
    );
  }
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    if (hops > 32) throw new ConfigError('TRUST_PROXY', `a hop count must be from 0 to 32 (got "${value}")`);
    return hops;
  }
  const entries = value.split(',').map((part) => part.trim()).filter((part) => part !== '');
  const bad = entries.find((entry) => !isAddressOrCidr(entry));
  if (bad !== undefined || entries.length === 0) {
    throw new ConfigError('TRUST_PROXY', `must be false, a number of hops, or proxy addresses/CIDRs separated by commas ("${bad ?? value}" is none of these)`);
  }
  return entries;
}
