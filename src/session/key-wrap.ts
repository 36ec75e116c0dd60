/**
 * SPEC §11, keys at rest: a private key is stored as an encrypted PKCS#8 PEM
 * (`-----BEGIN ENCRYPTED PRIVATE KEY-----`, PBES2 with AES-256-CBC, PBKDF2-HMAC-SHA256) whose
 * passphrase is the KEY_ENCRYPTION_KEY setting's base64 text, so that
 * `openssl pkey -passin pass:<that text>` opens it.
 *
 * A small module of its own so that every key the server keeps (session records now, pooled keys
 * later) is wrapped the same way: `wrap` for what is written, `unwrap` for what is read. Reading
 * tries the current key, then KEY_ENCRYPTION_KEY_PREVIOUS (rotation without ending sessions),
 * and takes a plain PKCS#8 PEM as it is (records written before the setting; `admin sessions
 * rewrap` converts them).
 */
import { createHash, createPrivateKey, type KeyObject } from 'node:crypto';

const ENCRYPTED_PEM_HEADER = '-----BEGIN ENCRYPTED PRIVATE KEY-----';
/** OpenSSL's name for the PBES2 content cipher. */
const CIPHER = 'aes-256-cbc';

/** A stored key that none of the configured keys opens: the operator's problem (503), never the client's. */
export class KeyUnwrapError extends Error {
  override name = 'KeyUnwrapError';
}

export interface KeyWrapKeys {
  /** The passphrase new records are written under; undefined = keys are stored unencrypted. */
  current: string | undefined;
  /** Older passphrases still accepted for reading. */
  previous?: readonly string[];
}

/** Whether a stored PEM is an encrypted PKCS#8 one. */
export function isWrapped(pem: string): boolean {
  return pem.trimStart().startsWith(ENCRYPTED_PEM_HEADER);
}

/** KeyWrap.tag of keys stored unencrypted. */
export const PLAIN_TAG = 'plain';

export class KeyWrap {
  private readonly readers: readonly string[];
  /**
   * Names the key new records are written under without revealing it: "plain", or "kek:" and 16
   * hex digits of a SHA-256 of the passphrase (a random 32-byte key: the digest gives nothing
   * away). Pooled keys carry it (issue 15), so a take knows without any crypto whether an entry
   * is already in the current form.
   */
  readonly tag: string;

  constructor(private readonly keys: KeyWrapKeys) {
    this.readers = [...(keys.current === undefined ? [] : [keys.current]), ...(keys.previous ?? [])];
    this.tag =
      keys.current === undefined
        ? PLAIN_TAG
        : `kek:${createHash('sha256').update('secure-message-server key wrap tag\0').update(keys.current).digest('hex').slice(0, 16)}`;
  }

  /**
   * The PKCS#8 export options of the stored form, for making a key directly in it (the key pool's
   * helper process, which then never hands a plain private key over); undefined = plain.
   */
  exportOptions(): { cipher: string; passphrase: string } | undefined {
    return this.keys.current === undefined ? undefined : { cipher: CIPHER, passphrase: this.keys.current };
  }

  /** Whether records are written wrapped. */
  get enabled(): boolean {
    return this.keys.current !== undefined;
  }

  /** The form to store: encrypted PKCS#8 under the current key, or the plain PEM when there is none. */
  wrap(privateKey: KeyObject | string): string {
    if (this.keys.current === undefined) {
      return typeof privateKey === 'string' ? privateKey : privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    }
    const key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
    return key.export({ type: 'pkcs8', format: 'pem', cipher: CIPHER, passphrase: this.keys.current }).toString();
  }

  /** The parsed key of a stored PEM; throws KeyUnwrapError when no configured key opens it. */
  unwrap(stored: string): KeyObject {
    if (!isWrapped(stored)) {
      try {
        return createPrivateKey(stored);
      } catch (cause) {
        throw new KeyUnwrapError('stored private key unreadable', { cause });
      }
    }
    for (const passphrase of this.readers) {
      try {
        return createPrivateKey({ key: stored, format: 'pem', passphrase });
      } catch {
        // the next key, if any
      }
    }
    throw new KeyUnwrapError(
      this.readers.length === 0
        ? 'stored private key is encrypted but KEY_ENCRYPTION_KEY is not set'
        : 'stored private key opens with neither KEY_ENCRYPTION_KEY nor KEY_ENCRYPTION_KEY_PREVIOUS',
    );
  }

  /** The stored form under the current key, or null when `stored` is that already (for `admin sessions rewrap`). */
  rewrap(stored: string): string | null {
    if (this.keys.current === undefined) {
      if (!isWrapped(stored)) return null;
      return this.unwrap(stored).export({ type: 'pkcs8', format: 'pem' }).toString();
    }
    if (isWrapped(stored)) {
      try {
        createPrivateKey({ key: stored, format: 'pem', passphrase: this.keys.current });
        return null;
      } catch {
        // under an older key: rewrapped below
      }
    }
    return this.wrap(this.unwrap(stored));
  }
}

/** Keys as they were before issue 10: nothing wrapped, plain PEMs read. */
export const NO_KEY_WRAP = new KeyWrap({ current: undefined });
