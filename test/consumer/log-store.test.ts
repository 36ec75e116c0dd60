/**
 * The SPEC §9 store interfaces, the same suite on the embedded store, a real redis-server and a
 * real Redis Cluster (where storing and deleting are one-slot steps),
 * through the production classes: one entry per stored record, in order; a head that never goes
 * down; deletion that keeps the id from being stored again while its session lives (and only
 * then); purge of entries whose records expired; a record stored again after expiry moving to the
 * end; bookmarks that concurrent moves never take backwards; one webhook lease holder at a time.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { openEmbeddedDatabase, openWriterConnection } from '../../src/backends/sqlite/database.js';
import { SqliteLoggedMessageStore, sqliteConsumerStores } from '../../src/backends/sqlite/message-log.js';
import { SqliteSessionStore } from '../../src/backends/sqlite/store.js';
import { WriteBatcher } from '../../src/backends/sqlite/write-batch.js';
import { openRedisStore } from '../../src/backends/redis/index.js';
import type { RedisConfig } from '../../src/config/config.js';
import type { ConsumerStores } from '../../src/store/message-log.js';
import type { MessageRecord, MessageStore, SessionStore } from '../../src/store/store.js';
import { makeDataDir } from '../helpers/server-process.js';
import { skipWithoutRedis, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { skipWithoutRedisCluster, startRedisCluster } from '../helpers/redis-cluster.js';
import { redisClusterConfigFor, redisConfigFor } from '../contract/targets.js';

interface Target {
  messages: MessageStore;
  sessions: SessionStore;
  consumer: ConsumerStores;
  close(): Promise<void>;
}

const USER = '0f8fad5b-d9cb-469f-a165-70867728950e';
let counter = 0;
function record(deviceId = 'd1'): MessageRecord {
  const n = counter++;
  return {
    id: n.toString(16).padStart(64, 'c'),
    user_id: USER,
    device_id: deviceId,
    device_name: deviceId,
    minute: n,
    received_at: new Date().toISOString(),
    payload: `payload ${n}`,
  };
}
const session = { user_id: USER, device_id: 'd1', device_name: 'd1', private_key: 'k', created_at: new Date().toISOString() };

/** A Redis store (one server or a cluster) as a target; `stopServer` ends what the target started. */
async function redisSubject(config: RedisConfig, stopServer: () => Promise<void>): Promise<Target> {
  const store = await openRedisStore(config, pino({ level: 'silent' }), { sessionTtlSeconds: 60 });
  return {
    messages: store.messages,
    sessions: store.sessions,
    consumer: store.consumer,
    close: async () => {
      await store.handle.close();
      await stopServer();
    },
  };
}

const targets: Array<{ name: string; skip: string | false; open: () => Promise<Target> }> = [
  {
    name: 'sqlite',
    skip: false,
    open: async () => {
      const data = makeDataDir();
      const db = openEmbeddedDatabase(data.dir, 'wp_');
      const writer = openWriterConnection(data.dir);
      const writes = new WriteBatcher(writer);
      return {
        messages: new SqliteLoggedMessageStore(db, writes),
        sessions: new SqliteSessionStore(db, writes),
        consumer: sqliteConsumerStores(db, writes),
        close: async () => {
          writes.close();
          writer.close();
          db.close();
          data.remove();
        },
      };
    },
  },
  {
    name: 'redis',
    skip: skipWithoutRedis('the Redis log-store suite'),
    open: async () => {
      const redis: RedisServer = await startRedisServer();
      return redisSubject(redisConfigFor(redis, 'p:'), () => redis.close());
    },
  },
  {
    name: 'redis-cluster',
    skip: skipWithoutRedisCluster('the Redis Cluster log-store suite'),
    open: async () => {
      const cluster = await startRedisCluster();
      return redisSubject(redisClusterConfigFor(cluster, 'p:'), () => cluster.close());
    },
  },
];

for (const target of targets) {
  describe(`message log store on ${target.name}`, { skip: target.skip }, () => {
    let t: Target;
    before(async () => {
      t = await target.open();
    });
    after(async () => t?.close());

    test('one entry per stored record, in storage order; a duplicate adds none', async () => {
      const head = await t.consumer.log.head();
      const records = [record(), record('d2'), record()];
      for (const r of records) assert.equal(await t.messages.putIfAbsent(r, 0), true);
      assert.equal(await t.messages.putIfAbsent(records[0]!, 0), false);
      const entries = await t.consumer.log.entriesAfter(head, 10);
      assert.deepEqual(entries.map((e) => e.id), records.map((r) => r.id));
      assert.deepEqual(entries.map((e) => e.sequence), [head + 1, head + 2, head + 3]);
      assert.equal(await t.consumer.log.head(), head + 3);
      assert.equal(await t.consumer.log.countAfter(head + 1), 2);
      assert.deepEqual(await t.consumer.log.records([records[1]!.id, 'f'.repeat(64)]), [records[1], null]);
    });

    test('a deleted id is refused while its session lives, and stored again once that session has ended', async () => {
      await t.sessions.create(`${USER}d1`, session, 60);
      const r = record();
      await t.messages.putIfAbsent(r, 0);
      const head = await t.consumer.log.head();
      assert.equal(await t.consumer.log.deleteMessage(r.id), true);
      assert.equal(await t.consumer.log.deleteMessage(r.id), false);
      assert.equal(await t.messages.get(r.id), null);
      assert.equal(await t.messages.putIfAbsent(r, 0), false, 'still a duplicate');
      assert.equal(await t.consumer.log.head(), head, 'the head never goes down');
      assert.ok(!(await t.consumer.log.entriesAfter(0, 1000)).some((e) => e.id === r.id));

      await t.sessions.delete(`${USER}d1`);
      await t.consumer.log.purge();
      // Redis forgets with the set's expiry (the session's); SQLite at the next purge.
      if (target.name === 'sqlite') assert.equal(await t.messages.putIfAbsent(r, 0), true, 'a new session may store it again');

      const withoutSession = record('d9');
      await t.messages.putIfAbsent(withoutSession, 0);
      assert.equal(await t.consumer.log.deleteMessage(withoutSession.id), true);
      assert.equal(await t.messages.putIfAbsent(withoutSession, 0), true, 'no session could resend it: nothing was remembered');
    });

    test('entries of expired records are purged from the start of the log; a record stored again moves to the end', async () => {
      const before = await t.consumer.log.entriesAfter(0, 10_000);
      for (const entry of before) await t.consumer.log.deleteMessage(entry.id);
      const short = record();
      const kept = record();
      await t.messages.putIfAbsent(short, 1);
      await t.messages.putIfAbsent(kept, 0);
      await new Promise((resolve) => setTimeout(resolve, 1200));
      assert.deepEqual(await t.consumer.log.records([short.id]), [null], 'expired');
      assert.equal(await t.consumer.log.purge(), 1);
      assert.deepEqual((await t.consumer.log.entriesAfter(0, 10)).map((e) => e.id), [kept.id]);
      assert.equal(await t.consumer.log.purge(), 0, 'a live record stops the purge');

      const again = record();
      await t.messages.putIfAbsent(again, 1);
      await new Promise((resolve) => setTimeout(resolve, 1200));
      assert.equal(await t.messages.putIfAbsent(again, 0), true, 'stored again after it expired');
      assert.deepEqual((await t.consumer.log.entriesAfter(0, 10)).map((e) => e.id), [kept.id, again.id], 'one entry, at the end');
    });

    test('concurrent bookmark moves never leave it behind the furthest one', async () => {
      const positions = Array.from({ length: 40 }, (_, i) => (i * 7919) % 97);
      const outcomes = await Promise.all(positions.map((p) => t.consumer.bookmarks.advance('race', p)));
      assert.equal(await t.consumer.bookmarks.get('race'), Math.max(...positions));
      assert.ok(outcomes.includes('moved'));
      assert.equal(await t.consumer.bookmarks.advance('race', 3), 'backwards');
      const furthest = Math.max(...positions);
      assert.equal(await t.consumer.bookmarks.advance('race', furthest), 'same');
      assert.deepEqual((await t.consumer.bookmarks.list()).find((b) => b.name === 'race'), { name: 'race', sequence: furthest });
      assert.equal(await t.consumer.bookmarks.get('never'), null);
    });

    test('the webhook lease has one holder; only it moves the delivered mark', async () => {
      const { webhook } = t.consumer;
      // Held long enough for the steps that need it held, however slow the machine; then
      // renewed with a short lease, for the steps about its expiry.
      const HELD_MS = 10_000;
      const SHORT_MS = 500;
      const claims = await Promise.all(['a', 'b', 'c', 'd'].map((owner) => webhook.claim(owner, HELD_MS)));
      assert.equal(claims.filter(Boolean).length, 1);
      const holder = ['a', 'b', 'c', 'd'][claims.indexOf(true)]!;
      const other = holder === 'a' ? 'b' : 'a';
      assert.equal(await webhook.claim(holder, HELD_MS), true, 'renewed');
      assert.equal(await webhook.advance(other, 5), false);
      assert.equal(await webhook.advance(holder, 5), true);
      assert.equal(await webhook.advance(holder, 2), true, 'never backwards, but no refusal');
      assert.equal(await webhook.delivered(), 5);
      await webhook.release(other);
      assert.equal(await webhook.claim(other, SHORT_MS), false, 'a non-holder cannot release it');
      assert.equal(await webhook.claim(holder, SHORT_MS), true, 'renewed for a short lease');
      await new Promise((resolve) => setTimeout(resolve, SHORT_MS + 100));
      assert.equal(await webhook.claim(other, HELD_MS), true, 'taken over once expired');
      assert.equal(await webhook.advance(holder, 9), false, 'the old holder is fenced off');
      await webhook.release(other);
      assert.equal(await webhook.claim(holder, SHORT_MS), true, 'free at once after a release');
    });
  });
}
