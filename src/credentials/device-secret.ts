/**
 * SPEC §10, device secrets: a device entry may hold `secret_sha256`, the lowercase hex SHA-256
 * of the secret's UTF-8 bytes. Secrets made here (and by the WordPress plugin) are 32 random
 * bytes in URL-safe base64 without padding: 43 characters.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Random bytes in a generated secret (SPEC §10). */
export const SECRET_BYTES = 32;
/** The `secret_sha256` format (SPEC says lowercase; upper case is the same bytes and accepted). */
const SHA256_HEX = /^[0-9a-fA-F]{64}$/;
/** Compared against when a device has no usable hash, so every path does the same work. */
const NO_HASH = Buffer.alloc(32);

/** A new secret: 32 random bytes, base64url without padding. */
export function generateSecret(): string {
  return randomBytes(SECRET_BYTES).toString('base64url');
}

/** SPEC §10: the lowercase hex SHA-256 of the secret's UTF-8 bytes. */
export function secretSha256(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export interface SecretPolicy {
  /** REQUIRE_DEVICE_SECRET: a device without `secret_sha256` may not authenticate. */
  requireSecret: boolean;
}

/**
 * Whether `presented` (the form field `secret`, undefined when absent) opens a device whose
 * entry holds `storedHash` (null: none). The presented secret is always hashed and compared
 * with timingSafeEqual, also when there is nothing to compare it with, so the time taken does
 * not say whether the device has a secret or how much of a guess was right.
 */
export function secretAccepted(storedHash: string | null, presented: string | undefined, policy: SecretPolicy): boolean {
  const usable = storedHash !== null && SHA256_HEX.test(storedHash);
  const expected = usable ? Buffer.from(storedHash, 'hex') : NO_HASH;
  const actual = createHash('sha256').update(presented ?? '', 'utf8').digest();
  const equal = timingSafeEqual(expected, actual);
  if (storedHash === null) return !policy.requireSecret;
  // A stored value that is no hash (a plugin's mistake) opens nothing: failing closed.
  return usable && presented !== undefined && equal;
}
