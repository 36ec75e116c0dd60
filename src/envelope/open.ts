/** Opening an envelope (SPEC §5): parse, check, unwrap the AES key, decrypt, require UTF-8. */
import { createHash } from 'node:crypto';
import { decodeBase64 } from './base64.js';
import { checkContentShape, decryptContent, type ContentEncryption } from './content-decrypt.js';
import { InvalidEnvelopeError } from './errors.js';
import type { KeyUnwrapper, OaepHash } from './key-unwrap.js';
import { canonicalMinute, isValidMinute, type Minute } from './minute.js';

/** What an envelope holds once opened. */
export interface OpenedEnvelope {
  /** The plaintext as text, a leading BOM kept: it is what gets stored. */
  plaintext: string;
  /** The exact decrypted bytes, for the message id (SPEC §6). */
  plaintextBytes: Buffer;
  /** `minute` as received. */
  minute: Minute;
  /** `minute` as text (SPEC §6); its UTF-8 bytes are the AES-GCM additional data. */
  canonicalMinute: string;
  /** The content encryption used. */
  enc: ContentEncryption;
  /**
   * SPEC §11: lowercase hex SHA-256 of the decoded `encryptedKey`, `iv` and `ciphertext` (each
   * length-prefixed). Of the bytes, not the base64 text, so re-encoding (URL-safe alphabet,
   * dropped padding) does not make a replayed AES-CBC envelope look new.
   */
  contentFingerprint: string;
}

/** SPEC §11: which `enc` and `oaepHash` values the deployment accepts (ALLOWED_ENC, ALLOWED_OAEP_HASH). */
export interface EnvelopePolicy {
  allowedEnc: readonly ContentEncryption[];
  allowedOaepHash: readonly OaepHash[];
}

const ENCS: readonly ContentEncryption[] = ['AES-CBC', 'AES-GCM'];
const OAEP_HASHES: readonly OaepHash[] = ['SHA-256', 'SHA-1'];

/** Everything SPEC §5 allows: the policy when the deployment narrows nothing. */
export const ACCEPT_ALL: EnvelopePolicy = { allowedEnc: ENCS, allowedOaepHash: OAEP_HASHES };

/**
 * Made once: a decode call without `stream` starts from a clean state, so one decoder serves every
 * message. ignoreBOM keeps a leading U+FEFF, so the stored text re-encodes to exactly the hashed bytes.
 */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function fingerprint(parts: readonly Buffer[]): string {
  const hash = createHash('sha256');
  for (const part of parts) {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(part.length);
    hash.update(length).update(part);
  }
  return hash.digest('hex');
}

/** Own property only: a polluted Object.prototype must not supply a field. */
function field(obj: object, name: string): unknown {
  return Object.hasOwn(obj, name) ? (obj as Record<string, unknown>)[name] : undefined;
}

function requiredString(obj: object, name: string): string {
  const value = field(obj, name);
  if (typeof value !== 'string') throw new InvalidEnvelopeError(`${name}: missing or not a string`);
  return value;
}

function optionalChoice<T extends string>(obj: object, name: string, choices: readonly T[], fallback: T): T {
  const value = field(obj, name);
  if (value === undefined) return fallback;
  // Only absence means the default: null, other casings, other types are refused.
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    throw new InvalidEnvelopeError(`${name}: not supported`);
  }
  return value as T;
}

function parseObject(message: string): object {
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch (cause) {
    throw new InvalidEnvelopeError('not JSON', { cause });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InvalidEnvelopeError('not a JSON object');
  }
  return parsed;
}

function open(message: string, unwrapper: KeyUnwrapper, policy: EnvelopePolicy): OpenedEnvelope {
  const obj = parseObject(message);
  const encryptedKeyText = requiredString(obj, 'encryptedKey');
  const ivText = requiredString(obj, 'iv');
  const ciphertextText = requiredString(obj, 'ciphertext');
  const minute = field(obj, 'minute');
  if (!isValidMinute(minute)) throw new InvalidEnvelopeError('minute: invalid');
  const enc = optionalChoice(obj, 'enc', ENCS, 'AES-CBC');
  const oaepHash = optionalChoice(obj, 'oaepHash', OAEP_HASHES, 'SHA-256');
  // SPEC §11: outside the deployment's allowlists is one more reason for the same answer,
  // checked (like the shape) before any private-key operation.
  if (!policy.allowedEnc.includes(enc)) throw new InvalidEnvelopeError('enc: not allowed here');
  if (!policy.allowedOaepHash.includes(oaepHash)) throw new InvalidEnvelopeError('oaepHash: not allowed here');

  const encryptedKey = decodeBase64(encryptedKeyText);
  const iv = decodeBase64(ivText);
  const ciphertext = decodeBase64(ciphertextText);
  // Everything checkable without the private key is checked before the RSA operation.
  checkContentShape(enc, iv, ciphertext);

  const key = unwrapper.unwrap(encryptedKey, oaepHash);
  const canonical = canonicalMinute(minute);
  // SPEC §5: in AES-GCM the canonical minute is authenticated, so it cannot be altered in transit.
  const plaintextBytes = decryptContent(enc, key, iv, ciphertext, Buffer.from(canonical, 'utf8'));

  let plaintext: string;
  try {
    plaintext = UTF8.decode(plaintextBytes);
  } catch (cause) {
    throw new InvalidEnvelopeError('plaintext: not UTF-8', { cause });
  }
  return {
    plaintext,
    plaintextBytes,
    minute,
    canonicalMinute: canonical,
    enc,
    contentFingerprint: fingerprint([encryptedKey, iv, ciphertext]),
  };
}

/**
 * Opens an envelope (SPEC §5) with the session's unwrapper, within the deployment's allowlists
 * (SPEC §11); throws InvalidEnvelopeError, and only that, for any bad input.
 */
export function openEnvelope(message: string, unwrapper: KeyUnwrapper, policy: EnvelopePolicy = ACCEPT_ALL): OpenedEnvelope {
  try {
    return open(message, unwrapper, policy);
  } catch (err) {
    if (err instanceof InvalidEnvelopeError) throw err;
    // Whatever else escaped (a node:crypto surprise, a failing unwrapper) is still one answer to the client.
    throw new InvalidEnvelopeError('unexpected error', { cause: err });
  }
}
