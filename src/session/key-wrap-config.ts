/** The KeyWrap of a configuration (SPEC §11), and the start-up warning when Redis holds keys in the clear. */
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { HardeningConfig } from '../config/hardening.js';
import { KeyWrap } from './key-wrap.js';

export function keyWrapFor(config: HardeningConfig): KeyWrap {
  const kek = config.keyEncryption;
  return new KeyWrap({ current: kek?.current, previous: kek?.previous === undefined ? [] : [kek.previous] });
}

/** SPEC §11: the start-up log says so at warn level when the store is Redis and no key is set. */
export function warnIfKeysInTheClear(config: Config, log: Logger): void {
  if (config.redis === undefined || config.hardening.keyEncryption !== undefined) return;
  log.warn(
    { setting: 'KEY_ENCRYPTION_KEY' },
    'session private keys are stored unencrypted in Redis: set KEY_ENCRYPTION_KEY (or KEY_ENCRYPTION_KEY_FILE) to encrypt them',
  );
}
