/**
 * SPEC §11: a SessionStore whose deletes ask for a WAL scrub, so a logged-out session's private key
 * does not stay readable in older WAL frames (file-safety.ts). Everything else passes through.
 */
import type { SessionStore } from '../../store/store.js';
import type { WalScrubber } from './file-safety.js';

export function scrubbingSessionStore(inner: SessionStore, scrubber: WalScrubber): SessionStore {
  return {
    create: (key, record, ttl) => inner.create(key, record, ttl),
    get: (key) => inner.get(key),
    renew: (key, ttl) => inner.renew(key, ttl),
    delete: async (key) => {
      const deleted = await inner.delete(key);
      // Also when nothing live was deleted: an expired row may have been removed with its key.
      scrubber.request();
      return deleted;
    },
  };
}
