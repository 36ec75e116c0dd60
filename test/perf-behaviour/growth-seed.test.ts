/**
 * The growth bench seeds sessions and messages straight into the store (bench/growth-seed.ts).
 * Its figures mean something only if the real server reads those rows as its own: a seeded
 * session is live (auth answers "already auth", a submit to it is delivered), and seeded messages
 * are in the log, in order, with the sequence continuing after them. No timing is asserted here.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { Message } from '../../src/protocol/answers.js';
import {
  openSeeder,
  SEEDED_DEVICE,
  SEEDED_DEVICE_NAME,
  seededClientKey,
  seededMessage,
  seededUuid,
  seedKeyPairs,
} from '../../bench/growth-seed.js';
import { startConsumerFixture, readWholeLog, type ConsumerFixture, type StoreKind } from '../helpers/consumer.js';
import { openFixtureStores } from '../helpers/embedded.js';
import { encryptEnvelope } from '../helpers/encrypt.js';
import { postForm } from '../helpers/http.js';
import { skipWithoutRedis } from '../helpers/redis-server.js';

const SESSIONS = 3;
const MESSAGES = 7;
const PAYLOAD_BYTES = 120;

for (const store of ['sqlite', 'redis'] as StoreKind[]) {
  describe(`growth bench seeding on ${store}: the real server reads seeded rows as its own`, { skip: store === 'redis' ? skipWithoutRedis('growth seeding on Redis') : false }, () => {
    let fx: ConsumerFixture;
    const [pair] = seedKeyPairs(1);
    before(async () => {
      fx = await startConsumerFixture({ store, devices: 1 });
      await fx.server.stop();
      // The directory knows seeded user 0's device, so a submit's directory recheck keeps its session.
      const directory = openFixtureStores(fx.dataDir);
      await directory.directory.addUser(seededUuid(0));
      await directory.directory.addDevice(seededUuid(0), SEEDED_DEVICE, SEEDED_DEVICE_NAME);
      directory.db.close();
      const seeder = await openSeeder(fx.env);
      try {
        await seeder.sessions(0, SESSIONS, [pair!.privateKey]);
        // Two waves' worth of calls: the second continues the log's sequence.
        await seeder.messages(0, 4, SESSIONS, PAYLOAD_BYTES);
        await seeder.messages(4, MESSAGES, SESSIONS, PAYLOAD_BYTES);
      } finally {
        await seeder.close();
      }
      await fx.restart();
    });
    after(async () => fx?.close());

    test('seeded messages are in the log in seeding order, records as the server writes them', async () => {
      const log = await readWholeLog(fx);
      assert.deepEqual(log.map((entry) => entry.cursor), ['1', '2', '3', '4', '5', '6', '7']);
      const ids = log.map((entry) => entry.record.id);
      assert.equal(new Set(ids).size, MESSAGES);
      for (const [n, entry] of log.entries()) {
        const expected = seededMessage(n, SESSIONS, PAYLOAD_BYTES, Number(entry.record.minute), String(entry.record.received_at));
        assert.deepEqual(entry.record, expected);
      }
    });

    test('a seeded session is live: auth says already auth, a submit under its key is delivered and logged next', async () => {
      const auth = await postForm(fx.server.url, { key: seededClientKey(0), status: 'on' });
      assert.equal(auth.body.message, Message.alreadyAuth);
      const publicKey = createPublicKey(pair!.privateKey).export({ type: 'spki', format: 'pem' }).toString();
      const reply = await postForm(fx.server.url, {
        key: seededClientKey(0),
        message: encryptEnvelope(publicKey, 'after the seed', { enc: 'AES-GCM' }),
      });
      assert.equal(reply.body.message, Message.delivered, reply.text);
      const log = await readWholeLog(fx);
      assert.equal(log.length, MESSAGES + 1);
      assert.deepEqual(log.at(-1), { cursor: String(MESSAGES + 1), record: { ...log.at(-1)!.record, id: reply.body.id, payload: 'after the seed' } });
      assert.equal(log.at(-1)!.record.user_id, seededUuid(0));
    });
  });
}
