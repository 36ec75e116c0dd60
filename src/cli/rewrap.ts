/**
 * `admin sessions rewrap` (SPEC §11): every stored session's private key re-encrypted under the
 * current KEY_ENCRYPTION_KEY (records under KEY_ENCRYPTION_KEY_PREVIOUS or unencrypted ones), or,
 * without a key set, decrypted back to plain PKCS#8. Sessions stay valid: the key pair is the same.
 * A record that changed meanwhile (logout, a new auth) is left as it is now.
 */
import { decodeSession, encodeSession } from '../store/store.js';
import type { SessionRecordRewriter } from '../store/session-rewrite.js';
import { KeyUnwrapError, type KeyWrap } from '../session/key-wrap.js';

export interface RewrapReport {
  rewrapped: number;
  /** Already under the current key. */
  unchanged: number;
  /** Opened by no configured key: left as they are, and counted so the operator knows. */
  unreadable: number;
  /** Changed or gone between the read and the write. */
  changedMeanwhile: number;
}

export async function rewrapSessions(rewriter: SessionRecordRewriter, keyWrap: KeyWrap): Promise<RewrapReport> {
  const report: RewrapReport = { rewrapped: 0, unchanged: 0, unreadable: 0, changedMeanwhile: 0 };
  for (const stored of await rewriter.list()) {
    const record = decodeSession(stored.raw);
    if (record === null) continue;
    let next: string | null;
    try {
      next = keyWrap.rewrap(record.private_key);
    } catch (error) {
      if (!(error instanceof KeyUnwrapError)) throw error;
      report.unreadable += 1;
      continue;
    }
    if (next === null) {
      report.unchanged += 1;
      continue;
    }
    const replaced = await rewriter.replace(stored.clientKey, stored.raw, encodeSession({ ...record, private_key: next }));
    if (replaced) report.rewrapped += 1;
    else report.changedMeanwhile += 1;
  }
  return report;
}
