/**
 * AES content decryption of the envelope (SPEC §5): AES-CBC with PKCS#7 padding, or AES-GCM
 * with the 16-byte tag appended to the ciphertext (the WebCrypto layout).
 */
import { createDecipheriv } from 'node:crypto';
import { InvalidEnvelopeError } from './errors.js';

/** The content encryptions an envelope may name in `enc`. */
export type ContentEncryption = 'AES-CBC' | 'AES-GCM';

/** AES block size and CBC IV length, in bytes. */
export const AES_BLOCK_LENGTH = 16;
/** The one GCM IV length SPEC §5 accepts, in bytes. */
export const GCM_IV_LENGTH = 12;
/** The one GCM tag length SPEC §5 accepts, in bytes. */
export const GCM_TAG_LENGTH = 16;

/** The AES variant for a key, by its length; InvalidEnvelopeError for a length that is none. */
function aesBits(key: Buffer): 128 | 192 | 256 {
  switch (key.length) {
    case 16: return 128;
    case 24: return 192;
    case 32: return 256;
    default: throw new InvalidEnvelopeError('aes: key size');
  }
}

function checkCbcShape(iv: Buffer, ciphertext: Buffer): void {
  if (iv.length !== AES_BLOCK_LENGTH) throw new InvalidEnvelopeError('aes-cbc: iv length');
  if (ciphertext.length === 0 || ciphertext.length % AES_BLOCK_LENGTH !== 0) {
    throw new InvalidEnvelopeError('aes-cbc: ciphertext length');
  }
}

function checkGcmShape(iv: Buffer, ciphertextAndTag: Buffer): void {
  if (iv.length !== GCM_IV_LENGTH) throw new InvalidEnvelopeError('aes-gcm: iv length');
  if (ciphertextAndTag.length < GCM_TAG_LENGTH) throw new InvalidEnvelopeError('aes-gcm: ciphertext shorter than the tag');
}

/** Throws InvalidEnvelopeError unless the IV and ciphertext lengths fit `enc` (cheap: run it before the RSA step). */
export function checkContentShape(enc: ContentEncryption, iv: Buffer, ciphertext: Buffer): void {
  switch (enc) {
    case 'AES-CBC': return checkCbcShape(iv, ciphertext);
    case 'AES-GCM': return checkGcmShape(iv, ciphertext);
    default: throw new InvalidEnvelopeError('unknown enc');
  }
}

/** AES-CBC decryption with PKCS#7 unpadding; throws InvalidEnvelopeError on any failure. */
export function decryptAesCbc(key: Buffer, iv: Buffer, ciphertext: Buffer): Buffer {
  const bits = aesBits(key);
  checkCbcShape(iv, ciphertext);
  try {
    const decipher = createDecipheriv(`aes-${bits}-cbc`, key, iv);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch (cause) {
    // Bad padding. The caller answers it exactly like every other failure (SPEC §1).
    throw new InvalidEnvelopeError('aes-cbc: bad padding', { cause });
  }
}

/** AES-GCM decryption of `data || tag` with a 12-byte IV and a 16-byte tag; throws InvalidEnvelopeError on any failure. */
export function decryptAesGcm(key: Buffer, iv: Buffer, ciphertextAndTag: Buffer, additionalData: Buffer): Buffer {
  const bits = aesBits(key);
  checkGcmShape(iv, ciphertextAndTag);
  const split = ciphertextAndTag.length - GCM_TAG_LENGTH;
  try {
    // authTagLength pins the tag size, so a truncated tag can never be accepted.
    const decipher = createDecipheriv(`aes-${bits}-gcm`, key, iv, { authTagLength: GCM_TAG_LENGTH });
    decipher.setAuthTag(ciphertextAndTag.subarray(split));
    decipher.setAAD(additionalData);
    return Buffer.concat([decipher.update(ciphertextAndTag.subarray(0, split)), decipher.final()]);
  } catch (cause) {
    throw new InvalidEnvelopeError('aes-gcm: authentication failed', { cause });
  }
}

/** Decrypts with the named content encryption; `additionalData` is used by AES-GCM only. */
export function decryptContent(
  enc: ContentEncryption,
  key: Buffer,
  iv: Buffer,
  ciphertext: Buffer,
  additionalData: Buffer,
): Buffer {
  switch (enc) {
    case 'AES-CBC': return decryptAesCbc(key, iv, ciphertext);
    case 'AES-GCM': return decryptAesGcm(key, iv, ciphertext, additionalData);
    default: throw new InvalidEnvelopeError('unknown enc');
  }
}
