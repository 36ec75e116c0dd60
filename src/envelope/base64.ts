/**
 * Strict base64 for the envelope fields (SPEC §5: standard or URL-safe alphabet, padding optional).
 *
 * Node's `Buffer.from(s, 'base64')` skips characters it does not know and stops at the first
 * `=`, so a mangled field would silently decode to other bytes. Everything is validated first.
 */
import { InvalidEnvelopeError } from './errors.js';

const STANDARD_ALPHABET = /^[A-Za-z0-9+/]*$/;
const URL_SAFE_ALPHABET = /^[A-Za-z0-9_-]*$/;
const STANDARD_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const URL_SAFE_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Decodes standard or URL-safe base64, padded or not; throws InvalidEnvelopeError for anything else. */
export function decodeBase64(input: string): Buffer {
  // Refused: foreign characters, mixed alphabets, misplaced or partial `=`, a length ≡ 1 mod 4, non-zero pad bits.
  let end = input.length;
  while (end > 0 && input.charCodeAt(end - 1) === 0x3d /* '=' */) end--;
  const padding = input.length - end;
  const body = input.slice(0, end);

  if (padding > 2) throw new InvalidEnvelopeError('base64: too much padding');
  // Padding, when present, must complete the last quantum; an unpadded tail is fine.
  if (padding > 0 && input.length % 4 !== 0) throw new InvalidEnvelopeError('base64: bad padding');
  if (body.length % 4 === 1) throw new InvalidEnvelopeError('base64: impossible length');

  // One alphabet per string: a mix of `+` and `-` is neither encoding. `=` inside the body fails here too.
  let chars: string;
  let encoding: 'base64' | 'base64url';
  if (STANDARD_ALPHABET.test(body)) {
    chars = STANDARD_CHARS;
    encoding = 'base64';
  } else if (URL_SAFE_ALPHABET.test(body)) {
    chars = URL_SAFE_CHARS;
    encoding = 'base64url';
  } else {
    throw new InvalidEnvelopeError('base64: character outside the alphabet');
  }

  // RFC 4648 §3.5: the unused low bits of the last character must be zero, so every byte
  // string has exactly one spelling per alphabet and padding choice.
  const tail = body.length % 4;
  if (tail !== 0) {
    const last = chars.indexOf(body.charAt(body.length - 1));
    const unusedBits = tail === 2 ? 0b1111 : 0b11;
    if ((last & unusedBits) !== 0) throw new InvalidEnvelopeError('base64: non-zero pad bits');
  }

  return Buffer.from(body, encoding);
}
