/**
 * Building the envelope of SPEC §5 with WebCrypto alone (globalThis.crypto.subtle), so the
 * same code runs on Node.js 20 and in browsers.
 */
import { canonicalMinute, isValidMinute, type Minute } from '../envelope/minute.js';
import { decodeBase64, encodeBase64 } from './base64.js';
import type { ReusableContentKey } from './content-key.js';
import { InvalidArgumentError } from './errors.js';

export type { Minute };

/** Content encryption of the envelope (SPEC §5 `enc`). */
export type ContentEncryption = 'AES-GCM' | 'AES-CBC';
/** RSA-OAEP hash, MGF1 with the same hash (SPEC §5 `oaepHash`). */
export type OaepHash = 'SHA-256' | 'SHA-1';

export interface EnvelopeOptions {
  /** Default `AES-GCM`: it authenticates the minute; `AES-CBC` is for servers of the original kind. */
  enc?: ContentEncryption;
  /** Default `SHA-256`. */
  oaepHash?: OaepHash;
  /** Default: the current Unix minute. A safe integer or a string of at most 64 characters. */
  minute?: Minute;
}

/** An envelope ready for the `message` field, with what went into it. */
export interface Envelope {
  /** The JSON text to send as `message`. */
  message: string;
  minute: Minute;
  enc: ContentEncryption;
  oaepHash: OaepHash;
}

/** AES-256 only: Chromium's WebCrypto has no AES-192, and 128 buys nothing here. */
const AES_KEY_BYTES = 32;
const GCM_IV_BYTES = 12;
const CBC_IV_BYTES = 16;
const PEM_PUBLIC_KEY = /-----BEGIN PUBLIC KEY-----([A-Za-z0-9+/=\s]+)-----END PUBLIC KEY-----/;

/** The recommended `minute` (SPEC §5): whole minutes since the Unix epoch. */
export function unixMinute(epochMs: number = Date.now()): number {
  return Math.floor(epochMs / 60_000);
}

function subtle(): SubtleCrypto {
  const crypto = globalThis.crypto;
  if (crypto?.subtle === undefined) {
    // Browsers hide WebCrypto outside secure contexts (https:// or localhost).
    throw new InvalidArgumentError('WebCrypto (crypto.subtle) is not available here; browsers offer it only on https:// or localhost pages');
  }
  return crypto.subtle;
}

/** The DER SubjectPublicKeyInfo inside a `-----BEGIN PUBLIC KEY-----` PEM, as the server's auth answer carries it. */
export function spkiFromPem(pem: string): Uint8Array<ArrayBuffer> {
  const match = PEM_PUBLIC_KEY.exec(pem);
  if (match === null) throw new InvalidArgumentError('not a PEM public key (-----BEGIN PUBLIC KEY-----)');
  try {
    return decodeBase64(match[1] ?? '');
  } catch (cause) {
    throw new InvalidArgumentError('the PEM public key is not valid base64', { cause });
  }
}

/** The session's public key as a WebCrypto key for one OAEP hash (a CryptoKey is bound to its hash). */
export async function importPublicKey(pem: string, oaepHash: OaepHash = 'SHA-256'): Promise<CryptoKey> {
  const der = spkiFromPem(pem);
  try {
    return await subtle().importKey('spki', der, { name: 'RSA-OAEP', hash: oaepHash }, false, ['encrypt']);
  } catch (cause) {
    throw new InvalidArgumentError('the public key is not an RSA key WebCrypto accepts', { cause });
  }
}

export function plaintextBytes(plaintext: string | Uint8Array): Uint8Array<ArrayBuffer> {
  if (typeof plaintext === 'string') {
    // A lone surrogate would silently become U+FFFD: the server would store other text than was given.
    if (/[\uD800-\uDFFF]/u.test(plaintext)) throw new InvalidArgumentError('the payload holds a lone surrogate, which is not text');
    return new TextEncoder().encode(plaintext);
  }
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(plaintext);
  } catch (cause) {
    // SPEC §5: the plaintext must be UTF-8; the server would answer `invalid message`.
    throw new InvalidArgumentError('the payload is not valid UTF-8', { cause });
  }
  // A copy: WebCrypto wants an ArrayBuffer-backed view, and the caller may reuse its buffer meanwhile.
  return new Uint8Array(plaintext);
}

function hashOf(key: CryptoKey): string | undefined {
  const hash = (key.algorithm as RsaHashedKeyAlgorithm).hash;
  return typeof hash === 'string' ? hash : hash?.name;
}

/**
 * Encrypts `plaintext` for the session whose public key is given (the PEM of the auth answer,
 * or a CryptoKey from importPublicKey with the same OAEP hash). A fresh AES key and IV every call.
 */
export async function buildEnvelope(
  publicKey: string | CryptoKey,
  plaintext: string | Uint8Array,
  options: EnvelopeOptions = {},
): Promise<Envelope> {
  const enc = options.enc ?? 'AES-GCM';
  const oaepHash = options.oaepHash ?? 'SHA-256';
  const minute = options.minute ?? unixMinute();
  if (enc !== 'AES-GCM' && enc !== 'AES-CBC') throw new InvalidArgumentError(`enc must be AES-GCM or AES-CBC (got ${String(enc)})`);
  if (oaepHash !== 'SHA-256' && oaepHash !== 'SHA-1') throw new InvalidArgumentError(`oaepHash must be SHA-256 or SHA-1 (got ${String(oaepHash)})`);
  if (!isValidMinute(minute)) {
    throw new InvalidArgumentError('minute must be a safe integer or a string of at most 64 characters without NUL');
  }
  const data = plaintextBytes(plaintext);

  const rsaKey = typeof publicKey === 'string' ? await importPublicKey(publicKey, oaepHash) : publicKey;
  if (hashOf(rsaKey) !== oaepHash) throw new InvalidArgumentError(`the CryptoKey was imported for ${hashOf(rsaKey)}, not ${oaepHash}`);

  const crypto = subtle();
  const rawKey = globalThis.crypto.getRandomValues(new Uint8Array(AES_KEY_BYTES));
  const iv = globalThis.crypto.getRandomValues(new Uint8Array(enc === 'AES-GCM' ? GCM_IV_BYTES : CBC_IV_BYTES));
  const aesKey = await crypto.importKey('raw', rawKey, { name: enc }, false, ['encrypt']);
  // SPEC §5: the GCM additional data is the canonical minute, so the minute cannot be changed in transit.
  // WebCrypto's GCM output is ciphertext || 16-byte tag, the layout SPEC §5 names; its CBC pads with PKCS#7.
  const params: AesGcmParams | AesCbcParams =
    enc === 'AES-GCM'
      ? { name: 'AES-GCM', iv, additionalData: new TextEncoder().encode(canonicalMinute(minute)), tagLength: 128 }
      : { name: 'AES-CBC', iv };
  const ciphertext = new Uint8Array(await crypto.encrypt(params, aesKey, data));
  const encryptedKey = new Uint8Array(await crypto.encrypt({ name: 'RSA-OAEP' }, rsaKey, rawKey));
  rawKey.fill(0);

  const message = JSON.stringify({
    encryptedKey: encodeBase64(encryptedKey),
    iv: encodeBase64(iv),
    ciphertext: encodeBase64(ciphertext),
    minute,
    enc,
    oaepHash,
  });
  return { message, minute, enc, oaepHash };
}

/**
 * Issue 15: an AES-GCM envelope under a session's reusable content key (content-key.ts), for a use
 * its reserve() granted: the key's wrapped bytes, a fresh random IV. The same fields in the same
 * order as buildEnvelope's.
 */
export async function buildEnvelopeUnder(
  contentKey: ReusableContentKey,
  plaintext: string | Uint8Array,
  options: { minute?: Minute } = {},
): Promise<Envelope> {
  const minute = options.minute ?? unixMinute();
  if (!isValidMinute(minute)) {
    throw new InvalidArgumentError('minute must be a safe integer or a string of at most 64 characters without NUL');
  }
  const sealed = await contentKey.seal(plaintextBytes(plaintext), minute);
  const oaepHash = contentKey.oaepHash;
  const message = JSON.stringify({ encryptedKey: sealed.encryptedKey, iv: sealed.iv, ciphertext: sealed.ciphertext, minute, enc: 'AES-GCM', oaepHash });
  return { message, minute, enc: 'AES-GCM', oaepHash };
}
