import { createHash } from 'node:crypto';

/** A short, stable tag for a client key, so log lines about one device can be found together. */
export function keyTag(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 12);
}
