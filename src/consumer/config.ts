/**
 * SPEC §9 settings: API_TOKENS for the consumer API, and the WEBHOOK_* settings. Read once at
 * start-up with config.ts's Reader; a bad value stops start-up with one line naming the variable,
 * and never prints a token or a secret.
 */
import { ConfigError, type Reader } from '../config/config.js';

/** SPEC §9: a token is 32 to 256 of these. */
export const API_TOKEN_PATTERN = /^[A-Za-z0-9._~+/=-]{32,256}$/;
/** SPEC §9: a consumer (and token) name. */
export const CONSUMER_NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export interface ApiToken {
  /** The name before the colon: which consumer this is, for logs (never the token). */
  name: string;
  token: string;
}

export interface WebhookConfig {
  url: string;
  /** The key under WEBHOOK_SECRET's `whsec_` prefix, decoded from base64. */
  secret: Buffer;
  timeoutSeconds: number;
  maxAgeSeconds: number;
  /** Upper bound of the first retry's delay; each later one doubles, up to an hour. */
  firstRetrySeconds: number;
}

export interface ConsumerConfig {
  /** Empty = the consumer API is off (every /v1/ path is a 404). */
  apiTokens: ApiToken[];
  /** undefined = no webhooks. */
  webhook: WebhookConfig | undefined;
}

function readApiTokens(read: Reader): ApiToken[] {
  const value = read.raw('API_TOKENS');
  if (value === undefined) return [];
  const tokens: ApiToken[] = [];
  const parts = value.split(',').map((part) => part.trim()).filter((part) => part !== '');
  for (const [index, part] of parts.entries()) {
    const colon = part.indexOf(':');
    const name = colon === -1 ? '' : part.slice(0, colon);
    const token = colon === -1 ? part : part.slice(colon + 1);
    // Which pair, by position and name only: the value is a secret.
    const which = name === '' ? `pair ${index + 1}` : `pair ${index + 1} ("${name}")`;
    if (!CONSUMER_NAME_PATTERN.test(name)) {
      throw new ConfigError('API_TOKENS', `${which}: must be name:token, the name 1 to 64 of A-Z a-z 0-9 . _ -`);
    }
    if (!API_TOKEN_PATTERN.test(token)) {
      throw new ConfigError('API_TOKENS', `${which}: the token must be 32 to 256 of A-Z a-z 0-9 . _ ~ + / = -`);
    }
    if (tokens.some((t) => t.name === name)) throw new ConfigError('API_TOKENS', `${which}: the name is used twice`);
    if (tokens.some((t) => t.token === token)) throw new ConfigError('API_TOKENS', `${which}: the token is used twice`);
    tokens.push({ name, token });
  }
  return tokens;
}

/** Standard Webhooks: `whsec_` then base64 of the key (we accept 16 to 128 bytes). */
function readWebhookSecret(read: Reader): Buffer {
  const value = read.required('WEBHOOK_SECRET', 'when WEBHOOK_URL is set');
  const match = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(value);
  const key = match === null ? undefined : Buffer.from(match[1]!, 'base64');
  if (key === undefined || key.length < 16 || key.length > 128 || key.toString('base64').replace(/=+$/, '') !== match![1]!.replace(/=+$/, '')) {
    throw new ConfigError('WEBHOOK_SECRET', 'must be whsec_ followed by the base64 of 16 to 128 random bytes');
  }
  return key;
}

function readWebhook(read: Reader): WebhookConfig | undefined {
  const url = read.raw('WEBHOOK_URL');
  if (url === undefined) return undefined;
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || !/^https?:$/.test(parsed.protocol)) {
    throw new ConfigError('WEBHOOK_URL', 'must be an http:// or https:// URL');
  }
  // fetch() refuses such a URL on every delivery, and its error (then logged) would carry the
  // password: refused here, without echoing the value. The receiver checks our signature instead.
  if (parsed.username !== '' || parsed.password !== '') {
    throw new ConfigError('WEBHOOK_URL', 'must not carry a user name or password (the receiver verifies the webhook-signature header)');
  }
  return {
    url,
    secret: readWebhookSecret(read),
    timeoutSeconds: read.integer('WEBHOOK_TIMEOUT_SECONDS', 15, 1, 300),
    maxAgeSeconds: read.integer('WEBHOOK_MAX_AGE_SECONDS', 86_400, 1, 30 * 86_400),
    firstRetrySeconds: read.integer('WEBHOOK_FIRST_RETRY_SECONDS', 10, 1, 10),
  };
}

export function readConsumerConfig(read: Reader): ConsumerConfig {
  return { apiTokens: readApiTokens(read), webhook: readWebhook(read) };
}
