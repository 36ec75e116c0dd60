/**
 * SCAN over every master: on one Redis that is the one connection, on a cluster each master in
 * turn (a SCAN sent to the Cluster client reaches one random node, so would list a third of
 * the keys). Keys are unique per master, so no key is listed twice.
 */
import { mastersOf } from './cluster-connection.js';
import type { RedisClient } from './connection.js';

/** Keys asked of SCAN per round trip. */
const SCAN_BATCH = 1000;

/** Up to `limit` keys matching `pattern`, from every master. */
export async function scanKeys(client: RedisClient, pattern: string, limit = Number.POSITIVE_INFINITY): Promise<string[]> {
  const found = new Set<string>();
  for (const node of mastersOf(client)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_BATCH);
      cursor = next;
      for (const key of keys) if (found.size < limit) found.add(key);
    } while (cursor !== '0' && found.size < limit);
    if (found.size >= limit) break;
  }
  return [...found];
}
