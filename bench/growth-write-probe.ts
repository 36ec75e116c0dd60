/**
 * A one-off probe for the growth bench's finding on the embedded store: the CPU one logged message
 * write costs (the server's own SqliteLoggedMessageStore through its WriteBatcher, 16 in flight as
 * at the bench's concurrency), on an empty file and on one holding 1M messages, with the writer's
 * default page cache and with a bigger one. No HTTP, no RSA: the store's share alone.
 *
 *   node --import tsx bench/growth-write-probe.ts [messages=1000000] [writes=3000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openEmbeddedDatabase, openWriterConnection } from '../src/backends/sqlite/database.js';
import { SqliteLoggedMessageStore } from '../src/backends/sqlite/message-log.js';
import { WriteBatcher } from '../src/backends/sqlite/write-batch.js';
import { openSeeder, seededMessage } from './growth-seed.js';

const stored = Number(process.argv[2] ?? 1_000_000);
const writes = Number(process.argv[3] ?? 3000);
const dir = mkdtempSync(join(tmpdir(), 'sms-probe-'));

async function probe(label: string, from: number, cacheKib?: number): Promise<void> {
  const db = openEmbeddedDatabase(dir, 'wp_');
  const writer = openWriterConnection(dir);
  if (cacheKib !== undefined) writer.pragma(`cache_size = -${cacheKib}`);
  const batcher = new WriteBatcher(writer);
  const store = new SqliteLoggedMessageStore(db, batcher);
  const minute = Math.floor(Date.now() / 60_000);
  const records = Array.from({ length: writes }, (_, i) => seededMessage(from + i, 997, 200, minute, new Date().toISOString()));
  const before = process.cpuUsage();
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < records.length) if (!(await store.putIfAbsent(records[next++]!, 0))) throw new Error('duplicate');
    }),
  );
  const cpu = process.cpuUsage(before);
  const ms = performance.now() - started;
  process.stdout.write(
    `${label}: ${((cpu.user + cpu.system) / 1000 / writes).toFixed(3)} ms CPU per write (user ${(cpu.user / 1000 / writes).toFixed(3)}, ` +
      `system ${(cpu.system / 1000 / writes).toFixed(3)}), ${(writes / (ms / 1000)).toFixed(0)} writes/s\n`,
  );
  batcher.close();
  writer.close();
  db.close();
}

try {
  const seeder = await openSeeder({ DATA_DIR: dir });
  await probe('empty file, default cache', 10_000_000);
  await probe('empty file, 64 MiB cache', 11_000_000, 65_536);
  await seeder.messages(0, stored, 997, 200);
  await seeder.close();
  await probe(`${stored} messages, default cache`, 12_000_000);
  await probe(`${stored} messages, 64 MiB cache`, 13_000_000, 65_536);
  await probe(`${stored} messages, default cache, again`, 14_000_000);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
