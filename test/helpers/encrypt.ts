/**
 * Builds envelopes the way a device does (SPEC §5), with node:crypto, for tests that need
 * fresh ones under a session's public key. Independent clients (Python, OpenSSL) are tested elsewhere.
 */
import { constants, createCipheriv, publicEncrypt, randomBytes } from 'node:crypto';

export interface EnvelopeOptions {
  enc?: 'AES-CBC' | 'AES-GCM';
  oaepHash?: 'SHA-256' | 'SHA-1';
  keyBytes?: 16 | 24 | 32;
  minute?: number | string;
  /** Reuse an AES key (and so one wrapped key) across envelopes. */
  aesKey?: Buffer;
}

export function encryptEnvelope(publicKeyPem: string, plaintext: string | Buffer, options: EnvelopeOptions = {}): string {
  const enc = options.enc ?? 'AES-CBC';
  const oaepHash = options.oaepHash ?? 'SHA-256';
  const aesKey = options.aesKey ?? randomBytes(options.keyBytes ?? 32);
  const minute = options.minute ?? Math.floor(Date.now() / 60_000);
  const data = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
  const bits = aesKey.length * 8;
  let iv: Buffer;
  let ciphertext: Buffer;
  if (enc === 'AES-GCM') {
    iv = randomBytes(12);
    const cipher = createCipheriv(`aes-${bits}-gcm` as 'aes-256-gcm', aesKey, iv, { authTagLength: 16 });
    cipher.setAAD(Buffer.from(String(minute), 'utf8'));
    ciphertext = Buffer.concat([cipher.update(data), cipher.final(), cipher.getAuthTag()]);
  } else {
    iv = randomBytes(16);
    const cipher = createCipheriv(`aes-${bits}-cbc`, aesKey, iv);
    ciphertext = Buffer.concat([cipher.update(data), cipher.final()]);
  }
  const encryptedKey = publicEncrypt(
    { key: publicKeyPem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: oaepHash === 'SHA-1' ? 'sha1' : 'sha256' },
    aesKey,
  );
  return JSON.stringify({
    encryptedKey: encryptedKey.toString('base64'),
    iv: iv.toString('base64'),
    ciphertext: ciphertext.toString('base64'),
    minute,
    enc,
    oaepHash,
  });
}
