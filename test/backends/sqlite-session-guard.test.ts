/**
 * The embedded store's AES-CBC content claims (SPEC §11) across sessions of one client key: a
 * claim takes over a row an earlier session left (the upsert that replaced deleting the key's
 * other rows on every claim, docs/PERFORMANCE.md "Growth"), and a session only ever sees its own.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openEmbeddedDatabase } from '../../src/backends/sqlite/database.js';
import { SqliteSessionGuardStore } from '../../src/backends/sqlite/session-guard.js';
import { WriteBatcher } from '../../src/backends/sqlite/write-batch.js';
import { makeDataDir } from '../helpers/server-process.js';

describe('SqliteSessionGuardStore content claims', () => {
  const data = makeDataDir();
  const db = openEmbeddedDatabase(data.dir, 'wp_');
  const writes = new WriteBatcher(db);
  const guard = new SqliteSessionGuardStore(writes);
  const key = '0f8fad5b-d9cb-469f-a165-70867728950ephone-01';
  const first = { clientKey: key, createdAt: '2026-12-01T10:00:00.000Z' };
  const second = { clientKey: key, createdAt: '2026-12-02T10:00:00.000Z' };
  const rows = (): Array<{ session_created: string; fingerprint: string; id: string }> =>
    db.prepare('SELECT session_created, fingerprint, id FROM session_content_claims ORDER BY fingerprint').all() as never;
  after(() => {
    writes.close();
    db.close();
    data.remove();
  });

  test('within a session the first claim wins and later ones get its id', async () => {
    assert.equal(await guard.claimContent(first, 'fp-a', 'id-1', 0), null);
    assert.equal(await guard.claimContent(first, 'fp-a', 'id-2', 0), 'id-1');
    assert.equal(await guard.claimContent(first, 'fp-b', 'id-3', 0), null);
  });

  test("a new session of the key claims content the earlier one had claimed, and never sees the earlier one's claims", async () => {
    assert.equal(await guard.claimContent(second, 'fp-a', 'id-4', 0), null);
    assert.equal(await guard.claimContent(second, 'fp-a', 'id-5', 0), 'id-4');
    // The earlier session's other row stays until the purge, but is taken over, not answered.
    assert.equal(await guard.claimContent(second, 'fp-b', 'id-6', 0), null);
    assert.deepEqual(rows(), [
      { session_created: second.createdAt, fingerprint: 'fp-a', id: 'id-4' },
      { session_created: second.createdAt, fingerprint: 'fp-b', id: 'id-6' },
    ]);
  });

  test('a released claim can be made again; an earlier session cannot release the new one', async () => {
    await guard.releaseContent(first, 'fp-a', 'id-4');
    assert.equal(await guard.claimContent(second, 'fp-a', 'id-7', 0), 'id-4');
    await guard.releaseContent(second, 'fp-a', 'id-4');
    assert.equal(await guard.claimContent(second, 'fp-a', 'id-8', 0), null);
  });
});
