/**
 * SPEC §10 (the per-session limit) and §11: the settings of envelope and key hardening (issue 10),
 * read in one place with config.ts's Reader. A bad value stops start-up with one line naming the
 * variable; no message here ever echoes a secret's value.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, type Env, type Reader } from './config.js';

export const ENCRYPTIONS = ['AES-GCM', 'AES-CBC'] as const;
export type AllowedEnc = (typeof ENCRYPTIONS)[number];
export const OAEP_HASHES = ['SHA-256', 'SHA-1'] as const;
export type AllowedOaepHash = (typeof OAEP_HASHES)[number];

/** The key encryption key (SPEC §11): the setting's base64 text is the PKCS#8 passphrase. */
export interface KeyEncryptionConfig {
  /** KEY_ENCRYPTION_KEY or the content of KEY_ENCRYPTION_KEY_FILE, trimmed. */
  current: string;
  /** KEY_ENCRYPTION_KEY_PREVIOUS: still accepted for reading, never written. */
  previous: string | undefined;
}

export interface HardeningConfig {
  /** ALLOWED_ENC: content encryptions an envelope may name (an absent `enc` is AES-CBC). */
  allowedEnc: readonly AllowedEnc[];
  /** ALLOWED_OAEP_HASH: RSA-OAEP hashes an envelope may name (an absent `oaepHash` is SHA-256). */
  allowedOaepHash: readonly AllowedOaepHash[];
  /** INVALID_ENVELOPE_LIMIT: `invalid message` answers a session may get before it ends; 0 = no limit. */
  invalidEnvelopeLimit: number;
  /** Undefined = private keys at rest as plain PKCS#8 (SPEC §4). */
  keyEncryption: KeyEncryptionConfig | undefined;
  /** REQUEST_TIMEOUT_SECONDS: receiving a request's headers and its whole body. */
  requestTimeoutSeconds: number;
  /** KEY_WAIT_LIMIT: auths of one process waiting for a session key at once; past it, 503. */
  keyWaitLimit: number;
  /** DB_QUEUE_LIMIT: MySQL requests of one process waiting for a connection; past it, 503. */
  mysqlQueueLimit: number;
  /** MAX_DEVICE_LIST_BYTES: a devices meta value longer than this is not parsed (no devices). */
  maxDeviceListBytes: number;
  /** LOG_TAG_SECRET: the HMAC key of the per-request key tag; undefined = derived or kept in the store. */
  logTagSecret: string | undefined;
}

/** A comma-separated list, each item one of `choices` (exact spelling); empty or unknown stops start-up. */
function readList<T extends string>(env: Env, name: string, choices: readonly T[], fallback: readonly T[]): T[] {
  // Not Reader.raw: an empty list would otherwise mean "the default", i.e. allow everything.
  const value = env[name];
  if (value === undefined) return [...fallback];
  const items = value.split(',').map((item) => item.trim()).filter((item) => item !== '');
  if (items.length === 0) throw new ConfigError(name, `must name at least one of ${choices.join(', ')} (it is empty)`);
  for (const item of items) {
    if (!(choices as readonly string[]).includes(item)) {
      throw new ConfigError(name, `"${item}" is not one of ${choices.join(', ')}`);
    }
  }
  return [...new Set(items)] as T[];
}

/** 32 bytes in standard base64; the error never shows the value. */
function checkKek(name: string, text: string): string {
  const trimmed = text.trim();
  const bytes = /^[A-Za-z0-9+/]+={0,2}$/.test(trimmed) ? Buffer.from(trimmed, 'base64') : Buffer.alloc(0);
  if (bytes.length !== 32 || bytes.toString('base64') !== trimmed) {
    throw new ConfigError(name, 'must be the base64 of exactly 32 bytes (e.g. `openssl rand -base64 32`); value not shown');
  }
  return trimmed;
}

function readKeyEncryption(read: Reader): KeyEncryptionConfig | undefined {
  const inline = read.raw('KEY_ENCRYPTION_KEY');
  const file = read.raw('KEY_ENCRYPTION_KEY_FILE');
  if (inline !== undefined && file !== undefined) {
    throw new ConfigError('KEY_ENCRYPTION_KEY_FILE', 'set either KEY_ENCRYPTION_KEY or KEY_ENCRYPTION_KEY_FILE, not both');
  }
  let current: string | undefined;
  if (inline !== undefined) current = checkKek('KEY_ENCRYPTION_KEY', inline);
  if (file !== undefined) {
    let content: string;
    try {
      content = readFileSync(file, 'utf8');
    } catch (error) {
      throw new ConfigError('KEY_ENCRYPTION_KEY_FILE', `cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    current = checkKek('KEY_ENCRYPTION_KEY_FILE', content);
  }
  const previousText = read.raw('KEY_ENCRYPTION_KEY_PREVIOUS');
  if (current === undefined) {
    if (previousText !== undefined) {
      throw new ConfigError('KEY_ENCRYPTION_KEY_PREVIOUS', 'needs KEY_ENCRYPTION_KEY or KEY_ENCRYPTION_KEY_FILE (the current key)');
    }
    return undefined;
  }
  const previous = previousText === undefined ? undefined : checkKek('KEY_ENCRYPTION_KEY_PREVIOUS', previousText);
  return { current, previous: previous === current ? undefined : previous };
}

/** `env` is the Reader's environment: the allowlists tell an empty value from an absent one. */
export function readHardeningConfig(read: Reader, env: Env): HardeningConfig {
  const logTagSecret = read.raw('LOG_TAG_SECRET');
  if (logTagSecret !== undefined && logTagSecret.length < 16) {
    throw new ConfigError('LOG_TAG_SECRET', 'must be at least 16 characters; value not shown');
  }
  return {
    allowedEnc: readList(env, 'ALLOWED_ENC', ENCRYPTIONS, ENCRYPTIONS),
    allowedOaepHash: readList(env, 'ALLOWED_OAEP_HASH', OAEP_HASHES, OAEP_HASHES),
    invalidEnvelopeLimit: read.integer('INVALID_ENVELOPE_LIMIT', 10, 0, 1_000_000),
    keyEncryption: readKeyEncryption(read),
    requestTimeoutSeconds: read.integer('REQUEST_TIMEOUT_SECONDS', 30, 1, 3600),
    keyWaitLimit: read.integer('KEY_WAIT_LIMIT', 256, 1, 1_000_000),
    mysqlQueueLimit: read.integer('DB_QUEUE_LIMIT', 1000, 1, 1_000_000),
    maxDeviceListBytes: read.integer('MAX_DEVICE_LIST_BYTES', 1024 * 1024, 1024, 64 * 1024 * 1024),
    logTagSecret,
  };
}
