/**
 * Issue 15: the KeyPoolStore contract (src/store/key-pool-store.ts) on both implementations, each
 * opened twice on the same data (two connections and write batchers on one SQLite file; two
 * Redis connections), as two server processes would: a take hands an entry to exactly one
 * caller, an add never pushes the pool past its limit, sizes are kept apart, and the discards
 * delete what they say. Real SQLite and a real redis-server; nothing timed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { openRedisStore } from '../../src/backends/redis/index.js';
import { openEmbeddedDatabase, openWriterConnection } from '../../src/backends/sqlite/database.js';
import { SqliteKeyPoolStore } from '../../src/backends/sqlite/key-pool.js';
import { WriteBatcher } from '../../src/backends/sqlite/write-batch.js';
import type { KeyPoolStore, PooledKey } from '../../src/store/key-pool-store.js';
import { skipWithoutRedis, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { makeDataDir } from '../helpers/server-process.js';
import { redisConfigFor } from './targets.js';

const silent = pino({ level: 'silent' });

/** Fake entries (the store never looks inside): a repeat shows as a repeated label. */
const entry = (label: string, wrapTag = 'plain'): PooledKey => ({ publicKeyPem: `public ${label}`, storedPrivateKey: `private ${label}`, wrapTag });

interface Pair {
  one: KeyPoolStore;
  other: KeyPoolStore;
  close(): Promise<void>;
}

function sqlitePair(): Pair {
  const data = makeDataDir();
  const open = () => {
    const db = openEmbeddedDatabase(data.dir, 'wp_');
    const writer = openWriterConnection(data.dir);
    const writes = new WriteBatcher(writer);
    return { store: new SqliteKeyPoolStore(db, writes), close: () => (writes.close(), writer.close(), db.close()) };
  };
  const [a, b] = [open(), open()];
  return {
    one: a.store,
    other: b.store,
    close: async () => {
      a.close();
      b.close();
      data.remove();
    },
  };
}

let redis: RedisServer | undefined;
async function redisPair(): Promise<Pair> {
  redis ??= await startRedisServer();
  await redis.client(2).flushdb();
  const [a, b] = await Promise.all([openRedisStore(redisConfigFor(redis, 'kp:'), silent), openRedisStore(redisConfigFor(redis, 'kp:'), silent)]);
  return {
    one: a.keyPool,
    other: b.keyPool,
    close: async () => {
      await a.handle.close();
      await b.handle.close();
    },
  };
}
after(async () => redis?.close());

const targets: Array<{ name: string; open: () => Pair | Promise<Pair>; skip: string | false }> = [
  { name: 'sqlite', open: sqlitePair, skip: false },
  { name: 'redis', open: redisPair, skip: skipWithoutRedis('the Redis key pool contract') },
];

for (const target of targets) {
  describe(`KeyPoolStore: ${target.name}`, { skip: target.skip }, () => {
    let pair: Pair;
    before(async () => {
      pair = await target.open();
    });
    after(async () => pair?.close());

    test('concurrent adds from two connections stop exactly at the limit', async () => {
      const added = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? pair.one : pair.other).add(2048, entry(`a${i}`), 25)));
      assert.equal(added.filter(Boolean).length, 25);
      assert.equal(await pair.one.count(2048), 25);
      assert.equal(await pair.other.count(2048), 25);
    });

    test('concurrent takes from two connections hand each entry to exactly one caller, oldest first', async () => {
      const first = await pair.one.take(2048);
      assert.equal(first?.publicKeyPem, 'public a0', 'the oldest entry first');
      assert.equal(first?.storedPrivateKey, 'private a0');
      const taken = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? pair.one : pair.other).take(2048)));
      const labels = taken.filter((key) => key !== null).map((key) => key.storedPrivateKey);
      assert.equal(labels.length, 24, 'the other 24, and then nothing');
      assert.equal(new Set([...labels, first!.storedPrivateKey]).size, 25, 'no entry was handed out twice');
      assert.equal(await pair.one.count(2048), 0);
      assert.equal(await pair.other.take(2048), null);
    });

    test('sizes are kept apart, and entries of another size are discarded', async () => {
      await pair.one.add(3072, entry('big'), 10);
      await pair.one.add(2048, entry('small'), 10);
      assert.equal(await pair.one.count(3072), 1);
      assert.equal((await pair.other.take(2048))?.publicKeyPem, 'public small', 'a 2048 take never gets the 3072 entry');
      assert.equal(await pair.other.take(2048), null);
      assert.equal(await pair.other.discardOtherSizes(2048), 1);
      assert.equal(await pair.one.count(3072), 0);
    });

    test('entries under another wrap are discarded, the current ones kept', async () => {
      await pair.one.add(2048, entry('old', 'kek:1111111111111111'), 10);
      await pair.one.add(2048, entry('new', 'kek:2222222222222222'), 10);
      await pair.one.add(3072, entry('old big', 'plain'), 10);
      assert.equal(await pair.other.discardOtherWraps('kek:2222222222222222'), 2);
      const left = await pair.one.take(2048);
      assert.equal(left?.wrapTag, 'kek:2222222222222222');
      assert.equal(await pair.one.take(2048), null);
      assert.equal(await pair.one.count(3072), 0);
    });
  });
}
