/** SPEC §6: the message id, which is also the duplicate key. */
import { createHash } from 'node:crypto';

const SEPARATOR = Buffer.of(0);

/** Lowercase hex SHA-256 of `user_id 0x00 device_id 0x00 canonical_minute 0x00 plaintext_bytes`, text parts as UTF-8. */
export function messageId(userId: string, deviceId: string, canonicalMinute: string, plaintextBytes: Buffer): string {
  // Unambiguous only while no text part holds U+0000: the device grammar (SPEC §2) and
  // isValidMinute exclude it, so a minute cannot trade bytes with the plaintext across a separator.
  return createHash('sha256')
    .update(userId, 'utf8')
    .update(SEPARATOR)
    .update(deviceId, 'utf8')
    .update(SEPARATOR)
    .update(canonicalMinute, 'utf8')
    .update(SEPARATOR)
    .update(plaintextBytes)
    .digest('hex');
}
