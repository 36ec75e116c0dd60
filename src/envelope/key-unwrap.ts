/**
 * RSA-OAEP unwrap of the envelope's AES key (SPEC §5): empty label, SHA-256 or SHA-1 with the
 * matching MGF1. PKCS#1 v1.5 is never attempted (Bleichenbacher/Marvin).
 */
import { constants, privateDecrypt, type KeyObject } from 'node:crypto';
import { InvalidEnvelopeError } from './errors.js';

/** The OAEP hash an envelope may name; MGF1 always uses the same hash. */
export type OaepHash = 'SHA-256' | 'SHA-1';

/** AES key sizes in bytes an envelope may carry (SPEC §5). */
export const AES_KEY_LENGTHS: readonly number[] = [16, 24, 32];

/** Turns an envelope's encrypted key into the AES key; throws InvalidEnvelopeError. A cache may wrap it. */
export interface KeyUnwrapper {
  /** The 16, 24 or 32-byte AES key inside `encryptedKey`; throws InvalidEnvelopeError for anything else. */
  unwrap(encryptedKey: Buffer, oaepHash: OaepHash): Buffer;
}

const NODE_HASH: Record<OaepHash, 'sha256' | 'sha1'> = { 'SHA-256': 'sha256', 'SHA-1': 'sha1' };

/** Byte length of the modulus of an RSA private key; throws TypeError for any other key. */
function modulusBytes(privateKey: KeyObject): number {
  const bits = privateKey.asymmetricKeyDetails?.modulusLength;
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'rsa' || bits === undefined) {
    throw new TypeError('an RSA private key is required');
  }
  return Math.ceil(bits / 8);
}

/** Internal (not re-exported): bare RSAES-OAEP decryption, empty label, any message length; throws InvalidEnvelopeError. */
export function rsaOaepDecrypt(privateKey: KeyObject, ciphertext: Buffer, oaepHash: OaepHash): Buffer {
  return decryptWith(privateKey, modulusBytes(privateKey), ciphertext, oaepHash);
}

function decryptWith(privateKey: KeyObject, k: number, ciphertext: Buffer, oaepHash: OaepHash): Buffer {
  // RFC 8017 §7.1.2 step 1: the ciphertext is exactly k bytes. OpenSSL would left-pad a short one.
  if (ciphertext.length !== k) throw new InvalidEnvelopeError('rsa-oaep: ciphertext length is not the modulus length');
  const hash = NODE_HASH[oaepHash];
  if (hash === undefined) throw new InvalidEnvelopeError('rsa-oaep: unsupported hash');
  try {
    // No oaepLabel: the empty label is the only one SPEC §5 allows.
    return privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, ciphertext);
  } catch (cause) {
    // OpenSSL checks the OAEP padding in constant time; the error detail goes to `cause` only.
    throw new InvalidEnvelopeError('rsa-oaep: decryption failed', { cause });
  }
}

/** A KeyUnwrapper for one session's RSA private key (throws TypeError now if the key is not one). */
export function rsaOaepUnwrapper(privateKey: KeyObject): KeyUnwrapper {
  const k = modulusBytes(privateKey);
  return {
    unwrap(encryptedKey: Buffer, oaepHash: OaepHash): Buffer {
      const key = decryptWith(privateKey, k, encryptedKey, oaepHash);
      if (!AES_KEY_LENGTHS.includes(key.length)) throw new InvalidEnvelopeError('rsa-oaep: AES key size');
      return key;
    },
  };
}
