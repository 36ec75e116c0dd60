/**
 * The per-request key tag of the request log (issue 10): an HMAC-SHA256 of the client key under a
 * per-installation secret, so log lines about one device can be found together, but a reader of
 * the logs cannot confirm a guessed client key (a plain hash of a key could be recomputed).
 *
 * Every process and instance must use the same secret, or one device's lines would not match
 * across them. It is, in this order: LOG_TAG_SECRET; else derived (HKDF) from KEY_ENCRYPTION_KEY,
 * which every instance shares anyway; else a random secret made once and kept in the store
 * (InstallationSecretStore), so a fresh installation needs no setting.
 */
import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { HardeningConfig } from '../config/hardening.js';
import type { InstallationSecretStore } from '../store/installation-secret.js';

/** The store's name for the generated secret. */
export const LOG_TAG_SECRET_NAME = 'log-tag';
/** Hex characters kept: 48 bits tell devices apart in a log and are far too short to matter as a MAC. */
const TAG_LENGTH = 12;

/** The tag of one client key under `secret`. */
export function keyTag(key: string, secret: string): string {
  return createHmac('sha256', secret).update(key).digest('hex').slice(0, TAG_LENGTH);
}

/** The installation's tag secret (see the module comment). A store that cannot answer now gets a per-process one, with a warning. */
export async function resolveLogTagSecret(config: HardeningConfig, store: InstallationSecretStore, log: Logger): Promise<string> {
  if (config.logTagSecret !== undefined) return config.logTagSecret;
  if (config.keyEncryption !== undefined) {
    const kek = Buffer.from(config.keyEncryption.current, 'base64');
    return Buffer.from(hkdfSync('sha256', kek, Buffer.alloc(0), 'secure-message-server log tag', 32)).toString('hex');
  }
  const candidate = randomBytes(32).toString('hex');
  try {
    return await store.getOrCreate(LOG_TAG_SECRET_NAME, candidate);
  } catch (error) {
    log.warn(
      { reason: error instanceof Error ? error.message : String(error) },
      'log tag secret not readable from the store: this process tags keys with its own secret until restarted (set LOG_TAG_SECRET to avoid this)',
    );
    return candidate;
  }
}
