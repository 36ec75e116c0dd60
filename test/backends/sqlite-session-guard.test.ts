/**
 * The embedded store's AES-CBC content claims (SPEC §11) across sessions of one client key: a
 * claim takes over a row an earlier session left (the upsert that replaced deleting the key's
 * other rows on every claim, docs/PERFORMANCE.md "Growth"), and a session only ever sees its own.
 * The orphan purge removes exactly the rows whose session is not live (logged out, expired,
 * replaced, purged), found from the keys whose session ended instead of by reading every claim.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openEmbeddedDatabase } from '../../src/backends/sqlite/database.js';
import { PURGE_INTERVAL_MS } from '../../src/backends/sqlite/periodic-purge.js';
import { ORPHANED_OF_ENDED, sessionGuardPurgeRound, SqliteSessionGuardStore } from '../../src/backends/sqlite/session-guard.js';
import { expiryPurgeRound, SqliteSessionStore } from '../../src/backends/sqlite/store.js';
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

describe('the orphan purge of the guard state', () => {
  const data = makeDataDir();
  const db = openEmbeddedDatabase(data.dir, 'wp_');
  const writes = new WriteBatcher(db);
  const guard = new SqliteSessionGuardStore(writes);
  const sessions = new SqliteSessionStore(db, writes);
  const HOUR = 3600;
  const record = (createdAt: string) => ({
    user_id: '7',
    device_id: 'phone-01',
    device_name: 'Phone',
    private_key: '-----BEGIN PRIVATE KEY-----\nnot a real key\n-----END PRIVATE KEY-----\n',
    created_at: createdAt,
  });
  /** A session of `key` created at `createdAt`, with two claims and an invalid count. */
  const sessionWithState = async (key: string, createdAt: string, ttl: number) => {
    assert.equal(await sessions.create(key, record(createdAt), ttl), true);
    const scope = { clientKey: key, createdAt };
    await guard.claimContent(scope, 'fp-x', `${key}-x`, ttl);
    await guard.claimContent(scope, 'fp-y', `${key}-y`, ttl);
    await guard.countInvalid(scope, ttl);
    return scope;
  };
  const state = () => ({
    claims: db.prepare('SELECT session_key, session_created, fingerprint FROM session_content_claims ORDER BY 1, 3').all(),
    counts: db.prepare('SELECT session_key, session_created, count FROM session_invalid_counts ORDER BY 1').all(),
  });
  /** The rows the purge read every row for before (its statement, as it was), at `now`: those it must keep. */
  const liveByTheOldQuery = (now: number) => {
    const live = (table: string) =>
      `SELECT * FROM ${table} t WHERE EXISTS (SELECT 1 FROM sessions s WHERE s.key = t.session_key
         AND json_extract(s.record, '$.created_at') = t.session_created AND (s.expires_at IS NULL OR s.expires_at > ?))`;
    return {
      claims: db.prepare(`SELECT session_key, session_created, fingerprint FROM (${live('session_content_claims')}) ORDER BY 1, 3`).all(now),
      counts: db.prepare(`SELECT session_key, session_created, count FROM (${live('session_invalid_counts')}) ORDER BY 1`).all(now),
    };
  };
  const round = sessionGuardPurgeRound(db);
  const purge = (now: number) => writes.run(() => round(now));
  after(() => {
    writes.close();
    db.close();
    data.remove();
  });

  test('the first round of a process removes every orphaned row, also those no trigger saw (a file of an older version)', async () => {
    db.prepare(`INSERT INTO session_content_claims VALUES ('old-key', '2026-01-01T00:00:00.000Z', 'fp', 'id')`).run();
    db.prepare(`INSERT INTO session_invalid_counts VALUES ('old-key', '2026-01-01T00:00:00.000Z', 3)`).run();
    await purge(Date.now());
    assert.deepEqual(state(), { claims: [], counts: [] });
  });

  test('later rounds remove the state of sessions logged out, expired, replaced or purged, and keep the live ones', async () => {
    const createdA = '2026-12-02T01:00:00.000Z';
    const createdB = '2026-12-02T02:00:00.000Z';
    // Live, never expires: kept.
    await sessionWithState('k-live', createdA, 0);
    // Logged out through the store (the state's own forget not called, as after a crash between the two).
    await sessionWithState('k-logout', createdA, 0);
    assert.equal(await sessions.delete('k-logout'), true);
    // Expires within the hour; the round below runs two hours from now, before the expiry purge.
    await sessionWithState('k-expired', createdA, HOUR);
    // Expired and replaced by a new session of the key (the create upsert), which takes over fp-x.
    await sessionWithState('k-replaced', createdA, HOUR);
    db.prepare('UPDATE sessions SET expires_at = ? WHERE key = ?').run(Date.now() - 1000, 'k-replaced');
    const replacement = { clientKey: 'k-replaced', createdAt: createdB };
    assert.equal(await sessions.create('k-replaced', record(createdB), 0), true);
    await guard.claimContent(replacement, 'fp-x', 'new-x', 0);
    await guard.claimContent(replacement, 'fp-z', 'new-z', 0);
    // Expired and deleted by the expiry purge.
    await sessionWithState('k-purged', createdA, HOUR);
    db.prepare('UPDATE sessions SET expires_at = ? WHERE key = ?').run(Date.now() - 1000, 'k-purged');
    await writes.run(() => expiryPurgeRound(db)(Date.now()));

    const now = Date.now() + 2 * HOUR * 1000;
    const expected = liveByTheOldQuery(now);
    assert.deepEqual(expected, {
      claims: [
        { session_key: 'k-live', session_created: createdA, fingerprint: 'fp-x' },
        { session_key: 'k-live', session_created: createdA, fingerprint: 'fp-y' },
        { session_key: 'k-replaced', session_created: createdB, fingerprint: 'fp-x' },
        { session_key: 'k-replaced', session_created: createdB, fingerprint: 'fp-z' },
      ],
      counts: [{ session_key: 'k-live', session_created: createdA, count: 1 }],
    });
    assert.ok(state().claims.length > expected.claims.length, 'there are orphans to purge');
    await purge(now);
    assert.deepEqual(state(), expected, 'the same rows as the query that read every claim');
    assert.deepEqual(db.prepare('SELECT session_key FROM session_guard_ended').all(), [], 'ended keys are forgotten two rounds later');
  });

  test('a claim written for an ended session after the next round is removed by the round after it', async () => {
    const scope = await sessionWithState('k-late', '2026-12-02T03:00:00.000Z', 0);
    assert.equal(await sessions.delete('k-late'), true);
    const ended = Date.now();
    await purge(ended + 1000);
    assert.deepEqual(state().claims.filter((claim) => (claim as { session_key: string }).session_key === 'k-late'), []);
    // A request that had read the session before the logout claims only now.
    await guard.claimContent(scope, 'fp-late', 'late', 0);
    await purge(ended + PURGE_INTERVAL_MS + 1000);
    assert.deepEqual(state().claims.filter((claim) => (claim as { session_key: string }).session_key === 'k-late'), []);
    await purge(ended + 2 * PURGE_INTERVAL_MS + 1000);
    assert.deepEqual(db.prepare(`SELECT session_key FROM session_guard_ended WHERE session_key = 'k-late'`).all(), []);
  });

  test('a round looks up the ended keys and the expired sessions by index, never reading every claim', () => {
    for (const table of ['session_content_claims', 'session_invalid_counts'] as const) {
      const plan = (db.prepare(`EXPLAIN QUERY PLAN ${ORPHANED_OF_ENDED(table)}`).all({ now: 0 }) as Array<{ detail: string }>).map((row) => row.detail);
      assert.ok(plan.includes(`SEARCH ${table} USING PRIMARY KEY (session_key=?)`), plan.join('\n'));
      assert.ok(!plan.some((step) => step.startsWith(`SCAN ${table}`)), plan.join('\n'));
      assert.ok(plan.some((step) => step.startsWith('SEARCH sessions USING INDEX sessions_expires_at')), plan.join('\n'));
    }
  });
});
