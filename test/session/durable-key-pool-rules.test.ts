/**
 * Issue 15: the DurableKeyPool's own rules, on a real embedded store (src/backends/sqlite) with
 * generators that answer at once: three processes' pools filling one store never push it past
 * KEY_POOL_SIZE; an entry no configured key opens is dropped and the auth falls back to
 * generating; an empty pool falls back too and says so once; stop leaves the entries stored.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import pino from 'pino';
import { openEmbeddedDatabase, openWriterConnection } from '../../src/backends/sqlite/database.js';
import { SqliteKeyPoolStore } from '../../src/backends/sqlite/key-pool.js';
import { WriteBatcher } from '../../src/backends/sqlite/write-batch.js';
import { DurableKeyPool } from '../../src/session/durable-key-pool.js';
import type { SessionKeyPair, StoredKeyPair } from '../../src/session/key-pair.js';
import { SessionKeyPool } from '../../src/session/key-pool.js';
import { KeyWrap } from '../../src/session/key-wrap.js';
import type { KeyPairGenerator, StoredForm, StoredKeyPairGenerator } from '../../src/session/keygen-process.js';
import { makeDataDir } from '../helpers/server-process.js';

/** Labelled fake pairs, made at once: the rules under test never look inside a key. */
class InstantGenerator implements StoredKeyPairGenerator, KeyPairGenerator {
  made = 0;
  constructor(private readonly label: string) {}
  async generateStored(_form: StoredForm): Promise<StoredKeyPair> {
    await new Promise((resolve) => setImmediate(resolve));
    const n = this.made++;
    return { publicKeyPem: `${this.label} public ${n}`, storedPrivateKey: `${this.label} private ${n}` };
  }
  async generate(): Promise<SessionKeyPair> {
    const n = this.made++;
    return { publicKeyPem: `${this.label} on-demand public ${n}`, privateKeyPem: `${this.label} on-demand private ${n}` };
  }
  async close(): Promise<void> {}
}

function openStore(dir: string) {
  const db = openEmbeddedDatabase(dir, 'wp_');
  const writer = openWriterConnection(dir);
  const writes = new WriteBatcher(writer);
  return { store: new SqliteKeyPoolStore(db, writes), close: () => (writes.close(), writer.close(), db.close()) };
}

function poolOn(store: SqliteKeyPoolStore, label: string, size: number, keyWrap = new KeyWrap({ current: undefined }), log = pino({ level: 'silent' })) {
  const generator = new InstantGenerator(label);
  return new DurableKeyPool({
    store,
    bits: 2048,
    size,
    keyWrap,
    generator,
    fallback: new SessionKeyPool({ size: 0, background: generator, onDemand: () => generator.generate() }),
    pollMs: 20,
    retryDelayMs: 20,
    log,
  });
}

/** Polls for up to 30 s: filling a store (a synced write per pair) is slow on a loaded machine. */
async function until(probe: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (await probe()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail(`never happened: ${what}`);
}

describe('durable key pool rules', () => {
  test('three pools filling one store stop at KEY_POOL_SIZE, and hand out only what they stored', async () => {
    const data = makeDataDir();
    const opened = [openStore(data.dir), openStore(data.dir), openStore(data.dir)];
    const pools = opened.map(({ store }, i) => poolOn(store, `p${i}`, 30).start());
    try {
      await until(async () => (await opened[0]!.store.count(2048)) >= 30, 'the pool filled');
      for (let round = 0; round < 5; round++) {
        // Drain a little and let them race to refill: never more than the size.
        await Promise.all(pools.map((pool) => pool.take()));
        await new Promise((resolve) => setTimeout(resolve, 60));
        assert.ok((await opened[1]!.store.count(2048)) <= 30, 'overshoot');
      }
      const taken = await Promise.all(Array.from({ length: 30 }, (_, i) => pools[i % 3]!.take()));
      const labels = taken.map((pair) => pair.publicKeyPem);
      assert.equal(new Set(labels).size, labels.length, 'a pair handed out twice');
    } finally {
      for (const pool of pools) await pool.stop();
      for (const { close } of opened) close();
      data.remove();
    }
  });

  test('an entry no configured key opens is dropped; the auth falls back to generating, and says so once', async () => {
    const data = makeDataDir();
    const { store, close } = openStore(data.dir);
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    const lost = new KeyWrap({ current: randomBytes(32).toString('base64') });
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await store.add(2048, { publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), storedPrivateKey: lost.wrap(privateKey), wrapTag: lost.tag }, 10);
    // Not started: no filler, so the only entry is the unopenable one.
    const pool = poolOn(store, 'now', 10, new KeyWrap({ current: randomBytes(32).toString('base64') }), log);
    try {
      const first = await pool.take();
      assert.match(first.publicKeyPem, /on-demand/, 'generated, not the entry under a lost key');
      assert.equal(await store.count(2048), 0, 'the unopenable entry is gone');
      await pool.take();
      assert.equal(pool.stats().discarded, 1);
      assert.equal(lines.filter((line) => String(line.msg).startsWith('pooled session keys open with no configured')).length, 1);
      assert.equal(lines.filter((line) => String(line.msg).startsWith('key pool empty')).length, 1, 'once per drain, not per auth');
    } finally {
      await pool.stop();
      close();
      data.remove();
    }
  });

  test('stop leaves the stored entries for the next start, and refuses later takes', async () => {
    const data = makeDataDir();
    const { store, close } = openStore(data.dir);
    const pool = poolOn(store, 's', 5).start();
    try {
      await until(async () => (await store.count(2048)) === 5, 'filled');
      await pool.stop();
      assert.equal(await store.count(2048), 5);
      await assert.rejects(pool.take(), /stopped/);
      const next = poolOn(store, 'n', 5);
      assert.match((await next.take()).publicKeyPem, /^s public /, 'the next process takes what the stopped one made');
      await next.stop();
    } finally {
      close();
      data.remove();
    }
  });
});
