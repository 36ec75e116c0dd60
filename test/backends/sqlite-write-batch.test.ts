/** Group commit of the embedded store: writes of one event-loop turn share a transaction. */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { EMBEDDED_DATABASE_FILE, openEmbeddedDatabase } from '../../src/backends/sqlite/database.js';
import { WriteBatcher } from '../../src/backends/sqlite/write-batch.js';
import { makeDataDir } from '../helpers/server-process.js';

describe('WriteBatcher', () => {
  const data = makeDataDir();
  const db = openEmbeddedDatabase(data.dir, 'wp_');
  db.exec('CREATE TABLE t (n INTEGER PRIMARY KEY)');
  const insert = db.prepare('INSERT INTO t (n) VALUES (?)');
  const count = (): number => (db.prepare('SELECT COUNT(*) AS c FROM t').get() as { c: number }).c;
  after(() => {
    db.close();
    data.remove();
  });

  test('writes queued together all commit, and each gets its own result', async () => {
    const writes = new WriteBatcher(db);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => writes.run(() => insert.run(i).changes)));
    assert.deepEqual(results, Array(20).fill(1));
    assert.equal(count(), 20);
  });

  test('one failing write is rejected alone; the others of its batch commit', async () => {
    const writes = new WriteBatcher(db);
    const outcomes = await Promise.allSettled([
      writes.run(() => insert.run(100)),
      writes.run(() => insert.run(0)), // primary key taken
      writes.run(() => insert.run(101)),
    ]);
    assert.deepEqual(outcomes.map((o) => o.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.equal(count(), 22);
  });

  test('when the transaction cannot begin, every write of the batch is rejected and nothing is written', async () => {
    const other = new Database(join(data.dir, EMBEDDED_DATABASE_FILE));
    other.pragma('busy_timeout = 0');
    db.pragma('busy_timeout = 50');
    other.exec('BEGIN IMMEDIATE');
    try {
      const writes = new WriteBatcher(db);
      const outcomes = await Promise.allSettled([writes.run(() => insert.run(200)), writes.run(() => insert.run(201))]);
      assert.deepEqual(outcomes.map((o) => o.status), ['rejected', 'rejected']);
    } finally {
      other.exec('ROLLBACK');
      other.close();
      db.pragma('busy_timeout = 5000');
    }
    assert.equal(count(), 22);
  });
});
