/** Public API of the envelope layer (SPEC §5). */
export { ACCEPT_ALL, openEnvelope, type EnvelopePolicy, type OpenedEnvelope } from './open.js';
export { InvalidEnvelopeError } from './errors.js';
export { rsaOaepUnwrapper, AES_KEY_LENGTHS, type KeyUnwrapper, type OaepHash } from './key-unwrap.js';
export type { ContentEncryption } from './content-decrypt.js';
export { canonicalMinute, isValidMinute, MAX_MINUTE_STRING_LENGTH, type Minute } from './minute.js';
