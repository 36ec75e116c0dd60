/**
 * The operator's settings (SPEC §12): the admin listener, load shedding and the shutdown
 * deadline. Read once by readConfig through the shared Reader; documented in docs/CONFIGURATION.md.
 */
import { isIP } from 'node:net';
import { ConfigError, type Reader } from '../config/config.js';

export interface OperatorSettings {
  /** ADMIN_HOST: where the operator listener binds. */
  adminHost: string;
  /** ADMIN_PORT; 0 = no operator listener. */
  adminPort: number;
  /** ADMIN_TOKEN: the bearer token every operator request needs; required off loopback. */
  adminToken: string | undefined;
  /** MAX_EVENT_LOOP_DELAY_MS: past this lag requests are shed with 503; 0 = never. */
  maxEventLoopDelayMs: number;
  /** SHUTDOWN_TIMEOUT_SECONDS: how long in-flight requests may take to finish on a stop. */
  shutdownTimeoutSeconds: number;
}

/** Shorter tokens are refused: the listener is then reachable from the network. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;

/** Loopback: 127.0.0.0/8, ::1, and the name localhost. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}

export function readOperatorSettings(read: Reader): OperatorSettings {
  const adminHost = read.string('ADMIN_HOST', '127.0.0.1');
  const adminPort = read.integer('ADMIN_PORT', 8001, 0, 65535);
  const adminToken = read.raw('ADMIN_TOKEN');
  if (adminToken !== undefined && (adminToken.length < MIN_ADMIN_TOKEN_LENGTH || /\s/.test(adminToken))) {
    throw new ConfigError('ADMIN_TOKEN', `must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters without spaces`);
  }
  if (adminPort !== 0 && !isLoopbackHost(adminHost) && adminToken === undefined) {
    throw new ConfigError('ADMIN_TOKEN', `required when ADMIN_HOST is not a loopback address (ADMIN_HOST is "${adminHost}")`);
  }
  return {
    adminHost,
    adminPort,
    adminToken,
    maxEventLoopDelayMs: read.integer('MAX_EVENT_LOOP_DELAY_MS', 1000, 0, 600_000),
    shutdownTimeoutSeconds: read.integer('SHUTDOWN_TIMEOUT_SECONDS', 10, 1, 3600),
  };
}
