/**
 * SPEC §11, src/backends/sqlite/file-safety.ts: after a delete, WalScrubber truncates the WAL so
 * a logged-out session's key leaves it; while another connection keeps the WAL busy, it tries
 * again, backing off (1 s doubling to 30 s), and starts over after a success or a new delete.
 * On a real file with a real reader holding the WAL; time is node:test's mock clock, so the
 * test counts checkpoint tries over injected time and never waits for it.
 */
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import Database from 'better-sqlite3';
import { EMBEDDED_DATABASE_FILE, openEmbeddedDatabase, openWriterConnection, type SqliteDatabase } from '../../src/backends/sqlite/database.js';
import { SCRUB_RETRY_MAX_MS, SCRUB_RETRY_MS, WalScrubber } from '../../src/backends/sqlite/file-safety.js';
import { makeDataDir } from '../helpers/server-process.js';

/** The first try after a delete (file-safety.ts SCRUB_DELAY_MS). */
const FIRST_TRY_MS = 100;

describe('WalScrubber: retries back off while the WAL is busy', () => {
  let data: ReturnType<typeof makeDataDir>;
  let db: SqliteDatabase;
  let writer: SqliteDatabase;
  let reader: SqliteDatabase;
  let scrubber: WalScrubber;
  let tries: { mock: { callCount(): number } };
  const walBytes = () => {
    const file = join(data.dir, `${EMBEDDED_DATABASE_FILE}-wal`);
    return existsSync(file) ? statSync(file).size : 0;
  };
  /** A "session" row written and deleted on the writer: frames with its bytes are in the WAL. */
  const deleteASession = () => {
    writer.prepare('INSERT INTO scrub_probe VALUES (?)').run('-----BEGIN PRIVATE KEY----- probe');
    writer.prepare('DELETE FROM scrub_probe').run();
    scrubber.request();
  };
  /** Another process reading: its snapshot keeps the WAL, so TRUNCATE reports busy. */
  const holdTheWal = () => {
    reader.exec('BEGIN');
    reader.prepare('SELECT count(*) FROM scrub_probe').get();
  };
  const letGo = () => reader.exec('COMMIT');
  /**
   * Advances the mock clock by `ms` and returns how many checkpoint tries happened in it. In steps
   * of at most 100 ms: Node 20's mock clock does not run, within one tick, a timer that a timer of
   * that tick set.
   */
  const triesIn = (ms: number): number => {
    const before = tries.mock.callCount();
    for (let left = ms; left > 0; left -= 100) mock.timers.tick(Math.min(100, left));
    return tries.mock.callCount() - before;
  };

  beforeEach(() => {
    data = makeDataDir();
    db = openEmbeddedDatabase(data.dir, 'wp_');
    writer = openWriterConnection(data.dir);
    writer.exec('CREATE TABLE scrub_probe (record TEXT)');
    reader = new Database(join(data.dir, EMBEDDED_DATABASE_FILE));
    mock.timers.enable({ apis: ['setTimeout'] });
    scrubber = new WalScrubber(writer);
    tries = mock.method(scrubber, 'scrubNow');
  });

  afterEach(() => {
    scrubber.close();
    mock.timers.reset();
    mock.restoreAll();
    if (reader.inTransaction) letGo();
    reader.close();
    writer.close();
    db.close();
    data.remove();
  });

  it('tries at 0.1 s, then 1, 2, 4, 8, 16 s later and every 30 s from then on, not every second', () => {
    holdTheWal();
    deleteASession();
    assert.equal(triesIn(FIRST_TRY_MS - 1), 0);
    assert.equal(triesIn(1), 1, 'the first try, SCRUB_DELAY_MS after the delete');
    const gaps = [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000];
    assert.equal(gaps[0], SCRUB_RETRY_MS);
    for (const gap of gaps) {
      assert.equal(triesIn(gap - 1), 0, `no try before the ${gap} ms gap is over`);
      assert.equal(triesIn(1), 1, `one try when the ${gap} ms gap is over`);
    }
    assert.ok(gaps.every((gap) => gap <= SCRUB_RETRY_MAX_MS));
    // Over the next ten minutes of a WAL that stays busy: one try per 30 s (a try a second before).
    assert.equal(triesIn(600_000), 20);
    assert.ok(walBytes() > 0, 'the WAL was never free: nothing truncated it');
  });

  it('truncates the WAL at the first try after the reader lets go, and then stops trying', () => {
    holdTheWal();
    deleteASession();
    assert.equal(triesIn(FIRST_TRY_MS + 1000 + 2000 + 4000), 4);
    letGo();
    assert.ok(walBytes() > 0);
    assert.equal(triesIn(8000 - 1), 0);
    assert.equal(triesIn(1), 1, 'the next try of the back-off');
    assert.equal(walBytes(), 0, 'that try truncated the WAL');
    assert.equal(triesIn(3_600_000), 0, 'nothing left to scrub: no more tries');
  });

  it('starts the back-off again after a success', () => {
    holdTheWal();
    deleteASession();
    assert.equal(triesIn(FIRST_TRY_MS + 1000 + 2000 + 4000 + 8000), 5);
    letGo();
    assert.equal(triesIn(16_000), 1);
    assert.equal(walBytes(), 0);
    holdTheWal();
    deleteASession();
    assert.equal(triesIn(FIRST_TRY_MS), 1);
    // 1 s, not the 32 s (capped to 30 s) the earlier refusals had reached.
    assert.equal(triesIn(SCRUB_RETRY_MS), 1);
    assert.equal(triesIn(2000), 1);
  });

  it('a new delete during a long back-off is tried 0.1 s later, and backs off from 1 s again', () => {
    holdTheWal();
    deleteASession();
    assert.equal(triesIn(FIRST_TRY_MS + 1000 + 2000 + 4000 + 8000 + 16_000), 6);
    // The next try is due in 30 s; a logout now puts a new key in the WAL.
    assert.equal(triesIn(5000), 0);
    deleteASession();
    assert.equal(triesIn(FIRST_TRY_MS), 1);
    assert.equal(triesIn(SCRUB_RETRY_MS - 1), 0);
    assert.equal(triesIn(1), 1);
    assert.equal(triesIn(2000), 1);
    letGo();
    assert.equal(triesIn(4000), 1);
    assert.equal(walBytes(), 0, 'both deleted rows left the WAL with one truncation');
    assert.equal(triesIn(600_000), 0);
  });

  it('deletes close together share one try', () => {
    deleteASession();
    deleteASession();
    triesIn(50);
    deleteASession();
    assert.equal(triesIn(FIRST_TRY_MS), 1);
    assert.equal(walBytes(), 0);
    assert.equal(triesIn(600_000), 0);
  });
});
