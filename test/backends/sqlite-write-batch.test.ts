/** Group commit of the embedded store: writes of one event-loop turn share a transaction. */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { EMBEDDED_DATABASE_FILE, openEmbeddedDatabase, openWriterConnection } from '../../src/backends/sqlite/database.js';
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

  test('while another process holds the write lock, writes wait without blocking the event loop, then commit', async () => {
    const writer = openWriterConnection(data.dir);
    const other = new Database(join(data.dir, EMBEDDED_DATABASE_FILE));
    other.exec('BEGIN IMMEDIATE');
    let ticks = 0;
    const ticker = setInterval(() => (ticks += 1), 5);
    try {
      const writes = new WriteBatcher(writer);
      const insertOnWriter = writer.prepare('INSERT INTO t (n) VALUES (?)');
      const pending = Promise.all([writes.run(() => insertOnWriter.run(300)), writes.run(() => insertOnWriter.run(301))]);
      await new Promise((resolve) => setTimeout(resolve, 150));
      assert.ok(ticks >= 5, `the event loop kept running while the writes waited (${ticks} ticks)`);
      assert.equal(count(), 22, 'nothing written while the lock is held');
      other.exec('COMMIT');
      await pending;
      assert.equal(count(), 24);
    } finally {
      clearInterval(ticker);
      if (other.inTransaction) other.exec('ROLLBACK');
      other.close();
      writer.close();
    }
  });

  test('when the lock stays taken past the wait, every write of the batch is rejected and nothing is written', async () => {
    const writer = openWriterConnection(data.dir);
    const other = new Database(join(data.dir, EMBEDDED_DATABASE_FILE));
    other.exec('BEGIN IMMEDIATE');
    try {
      const writes = new WriteBatcher(writer);
      const insertOnWriter = writer.prepare('INSERT INTO t (n) VALUES (?)');
      const outcomes = await Promise.allSettled([writes.run(() => insertOnWriter.run(200)), writes.run(() => insertOnWriter.run(201))]);
      assert.deepEqual(outcomes.map((o) => o.status), ['rejected', 'rejected']);
      assert.equal((outcomes[0] as PromiseRejectedResult).reason.code, 'SQLITE_BUSY');
    } finally {
      other.exec('ROLLBACK');
      other.close();
      writer.close();
    }
    assert.equal(count(), 24);
  });
});
