/** Group commit of the embedded store: writes of one event-loop turn share a transaction. */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { EMBEDDED_DATABASE_FILE, openEmbeddedDatabase, openWriterConnection } from '../../src/backends/sqlite/database.js';
import { walFileSync, WriteBatcher, type CommitSync } from '../../src/backends/sqlite/write-batch.js';
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
      let settled = false;
      void pending.then(
        () => (settled = true),
        () => (settled = true),
      );
      // Five ticks of the 5 ms interval, however long a loaded machine takes to run them
      // (a starved process runs one tick for many missed ones).
      for (let i = 0; i < 1000 && ticks < 5; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.ok(ticks >= 5, `the event loop kept running while the writes waited (${ticks} ticks)`);
      assert.equal(settled, false, 'the writes are still waiting for the lock');
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

/** A sync the test finishes or fails by hand, counting how often the batcher asked for one. */
function heldSync(): { sync: CommitSync; calls: () => number; release: () => void; fail: (error: Error) => void } {
  const waiting: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  let calls = 0;
  return {
    sync: {
      sync: () => {
        calls += 1;
        return new Promise<void>((resolve, reject) => waiting.push({ resolve, reject }));
      },
      close: () => undefined,
    },
    calls: () => calls,
    release: () => waiting.splice(0).forEach((sync) => sync.resolve()),
    fail: (error) => waiting.splice(0).forEach((sync) => sync.reject(error)),
  };
}

const settledSoon = async (promise: Promise<unknown>): Promise<boolean> => {
  let settled = false;
  void promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((resolve) => setTimeout(resolve, 30));
  return settled;
};

describe('WriteBatcher durability: commit on the event loop, sync off it, acknowledge after the sync', () => {
  const data = makeDataDir();
  const db = openEmbeddedDatabase(data.dir, 'wp_');
  db.exec('CREATE TABLE t (n INTEGER PRIMARY KEY)');
  const writer = openWriterConnection(data.dir);
  const insert = writer.prepare('INSERT INTO t (n) VALUES (?)');
  const count = (): number => (db.prepare('SELECT COUNT(*) AS c FROM t').get() as { c: number }).c;
  after(() => {
    writer.close();
    db.close();
    data.remove();
  });

  test('the writer connection leaves syncing to the batcher (synchronous = NORMAL)', () => {
    assert.equal(writer.pragma('synchronous', { simple: true }), 1);
    assert.equal(db.pragma('synchronous', { simple: true }), 2, 'other connections keep FULL');
  });

  test('a committed write is not acknowledged until the sync after its commit has finished', async () => {
    const held = heldSync();
    const writes = new WriteBatcher(writer, held.sync);
    const pending = writes.run(() => insert.run(1).changes);
    assert.equal(await settledSoon(pending), false, 'no answer while the sync is open');
    assert.equal(count(), 1, 'the write is committed (visible to other connections) meanwhile');
    assert.equal(held.calls(), 1);
    held.release();
    assert.equal(await pending, 1);
  });

  test('writes that arrive during a sync wait for it, then commit together and share one sync', async () => {
    const held = heldSync();
    const writes = new WriteBatcher(writer, held.sync);
    const first = writes.run(() => insert.run(2));
    await settledSoon(first);
    assert.equal(held.calls(), 1);
    const later = [writes.run(() => insert.run(3))];
    await new Promise((resolve) => setImmediate(resolve));
    later.push(writes.run(() => insert.run(4)));
    await new Promise((resolve) => setTimeout(resolve, 5));
    later.push(writes.run(() => insert.run(5)));
    assert.equal(await settledSoon(Promise.race(later)), false);
    assert.equal(count(), 2, 'nothing commits while the previous group syncs');
    held.release();
    await first;
    assert.equal(await settledSoon(Promise.race(later)), false, 'the later writes need a sync of their own');
    assert.equal(count(), 5, 'all three committed at once after the sync');
    assert.equal(held.calls(), 2, 'one more sync for all three');
    held.release();
    await Promise.all(later);
    assert.equal(held.calls(), 2);
  });

  test('a failed sync fails the writes waiting on it (they are committed, so a retry finds them)', async () => {
    const held = heldSync();
    const writes = new WriteBatcher(writer, held.sync);
    const pending = writes.run(() => insert.run(6));
    await settledSoon(pending);
    held.fail(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    await assert.rejects(pending, { code: 'EIO' });
    assert.equal(count(), 6);
    // The batcher goes on: the next write gets its own sync.
    const next = writes.run(() => insert.run(7).changes);
    await settledSoon(next);
    held.release();
    assert.equal(await next, 1);
  });

  test('the default sync works on the real WAL file, and an in-memory database needs none', async () => {
    const writes = new WriteBatcher(writer);
    try {
      assert.deepEqual(await Promise.all([writes.run(() => insert.run(8).changes), writes.run(() => insert.run(9).changes)]), [1, 1]);
      assert.equal(count(), 9);
    } finally {
      writes.close();
    }
    const memory = new Database(':memory:');
    try {
      memory.exec('CREATE TABLE m (n INTEGER)');
      const memoryWrites = new WriteBatcher(memory);
      assert.equal(await memoryWrites.run(() => memory.prepare('INSERT INTO m VALUES (1)').run().changes), 1);
    } finally {
      memory.close();
    }
  });

  test('the default sync targets the WAL file: without one it fails instead of syncing nothing', async () => {
    const dir = makeDataDir();
    const rollbackJournal = new Database(join(dir.dir, 'no-wal.sqlite'));
    try {
      await assert.rejects(walFileSync(rollbackJournal).sync(), { code: 'ENOENT' });
    } finally {
      rollbackJournal.close();
      dir.remove();
    }
  });
});
