/** src/store/session-rewrite.ts in the embedded file; a rewrite asks for a WAL scrub (the old PEM is in it). */
import type { SessionRecordRewriter, StoredSession } from '../../store/session-rewrite.js';
import { orUnavailable } from '../unavailable.js';
import type { SqliteDatabase } from './database.js';
import type { WalScrubber } from './file-safety.js';
import type { WriteBatcher } from './write-batch.js';

export class SqliteSessionRewriter implements SessionRecordRewriter {
  private readonly listQuery;
  private readonly replaceQuery;

  constructor(
    db: SqliteDatabase,
    private readonly writes: WriteBatcher,
    private readonly scrubber: WalScrubber,
  ) {
    this.listQuery = db.prepare<[], { key: string; record: string }>(`SELECT key, record FROM sessions`);
    this.replaceQuery = writes.db.prepare<[string, string, string]>(`UPDATE sessions SET record = ? WHERE key = ? AND record = ?`);
  }

  list(): Promise<StoredSession[]> {
    return orUnavailable('sqlite', () => this.listQuery.all().map((row) => ({ clientKey: row.key, raw: row.record })));
  }

  async replace(clientKey: string, expected: string, next: string): Promise<boolean> {
    const replaced = await orUnavailable('sqlite', () => this.writes.run(() => this.replaceQuery.run(next, clientKey, expected).changes === 1));
    if (replaced) this.scrubber.request();
    return replaced;
  }
}
