/** The `minute` field of the envelope (SPEC §5) and its canonical text (SPEC §6). */

/** Longest accepted string minute, counted in Unicode code points (SPEC §5). */
export const MAX_MINUTE_STRING_LENGTH = 64;

/** A `minute` as received: a safe integer or a short string. */
export type Minute = number | string;

// Lone surrogates: in `u` mode a well-formed pair is one code point and does not match.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** True for a safe integer, or a string of at most MAX_MINUTE_STRING_LENGTH code points, well-formed and without U+0000. */
export function isValidMinute(value: unknown): value is Minute {
  if (typeof value === 'number') return Number.isSafeInteger(value);
  if (typeof value !== 'string') return false;
  // Code points lie between length/2 and length; only count them when it matters.
  if (value.length > 2 * MAX_MINUTE_STRING_LENGTH) return false;
  if (value.length > MAX_MINUTE_STRING_LENGTH && [...value].length > MAX_MINUTE_STRING_LENGTH) return false;
  // The id hashes the UTF-8 bytes of the minute (SPEC §6): a lone surrogate has none (it would
  // become U+FFFD, so two minutes would share bytes), and a NUL would let minute and plaintext
  // trade bytes across the 0x00 separator and collide two different messages on one id.
  if (LONE_SURROGATE.test(value)) return false;
  if (value.includes('\u0000')) return false;
  return true;
}

/** SPEC §6: an integer in plain decimal (-0 gives "0"), a string as it is. */
export function canonicalMinute(minute: Minute): string {
  // String(n) of a safe integer never uses an exponent or a sign on zero.
  return typeof minute === 'number' ? String(minute) : minute;
}
