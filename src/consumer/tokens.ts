/**
 * SPEC §9: bearer tokens of API_TOKENS, compared in constant time. Both sides are hashed first,
 * so the comparison takes the same time whatever the lengths, and every configured token is
 * compared (no early exit), so the time says nothing about which one nearly matched.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApiToken } from './config.js';

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

export class TokenCheck {
  private readonly digests: Array<{ name: string; digest: Buffer }>;

  constructor(tokens: readonly ApiToken[]) {
    this.digests = tokens.map((token) => ({ name: token.name, digest: digest(token.token) }));
  }

  /** The consumer's name for an `Authorization` header value, or undefined. */
  check(authorization: string | undefined): string | undefined {
    const match = authorization === undefined ? null : /^Bearer +(\S+)\s*$/i.exec(authorization);
    const presented = digest(match?.[1] ?? '');
    let found: string | undefined;
    for (const { name, digest: expected } of this.digests) {
      if (timingSafeEqual(presented, expected) && match !== null) found ??= name;
    }
    return found;
  }
}
