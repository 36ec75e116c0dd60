/** SPEC §2: the client key is `<user_id><device_id>`. */

/** A key longer than this is a bad request rather than "not found" (SPEC §2). */
export const MAX_KEY_LENGTH = 200;
/** device_id grammar of SPEC §2: 1 to 64 of `[A-Za-z0-9._:-]`. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;

/** The two parts of a client key. */
export interface ClientKey {
  /** The whole key as sent: sessions are stored under it. */
  key: string;
  userId: string;
  deviceId: string;
}

/**
 * Splits a key that is at most MAX_KEY_LENGTH long; null when it does not fit the grammar,
 * which the protocol answers as "not found" so that probing learns nothing more.
 */
export function parseClientKey(key: string, userIdLength: number): ClientKey | null {
  // Characters, as a PHP/JS client counts them; a UUID is ASCII anyway.
  const chars = Array.from(key);
  if (chars.length <= userIdLength) return null;
  const userId = chars.slice(0, userIdLength).join('');
  const deviceId = chars.slice(userIdLength).join('');
  if (!DEVICE_ID_PATTERN.test(deviceId)) return null;
  return { key, userId, deviceId };
}
