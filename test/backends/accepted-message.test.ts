/**
 * Issue 15: the store step of an accepted submit (src/store/accepted-message.ts) on the embedded
 * store and on a real Redis, opened as the server opens them (openBackends): the claim decides
 * first, a replay writes and renews nothing, a record is stored once, the session is renewed for
 * a store and for a duplicate, and a later session of the key never sees an earlier one's claims.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pino from 'pino';
import { openBackends, type Backends } from '../../src/backends/index.js';
import { EMBEDDED_DATABASE_FILE } from '../../src/backends/sqlite/database.js';
import { readConfig } from '../../src/config/config.js';
import type { MessageRecord, SessionRecord } from '../../src/store/store.js';
import { skipWithoutRedis, startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const silent = pino({ level: 'silent' });
const KEY = '0f8fad5b-d9cb-469f-a165-70867728950estep-device';

function session(createdAt: string): SessionRecord {
  return { user_id: KEY.slice(0, 36), device_id: KEY.slice(36), device_name: 'Step', private_key: 'not used here', created_at: createdAt };
}

function record(id: string, payload: string): MessageRecord {
  return { id, user_id: KEY.slice(0, 36), device_id: KEY.slice(36), device_name: 'Step', minute: 1, received_at: new Date().toISOString(), payload };
}

const id = (c: string) => c.repeat(64);
const FINGERPRINT = 'f'.repeat(64);

interface Target {
  backends: Backends;
  /** Seconds the session has left, as the store holds it. */
  sessionTtl(): Promise<number>;
  close(): Promise<void>;
}

function suite(name: string, open: () => Promise<Target>, skip: string | false = false): void {
  describe(`accepted-message store step: ${name}`, { skip }, () => {
    let target: Target;
    before(async () => {
      target = await open();
    });
    after(async () => target?.close());

    test('claim, store, duplicate and replay, each with its renewal or none', async () => {
      const { backends } = target;
      const first = session('2026-12-02T00:00:00.000Z');
      assert.equal(await backends.sessions.create(KEY, first, 100), true);
      const scope = { clientKey: KEY, createdAt: first.created_at };

      const stored = await backends.accepted.accept({ scope, record: record(id('a'), 'one'), messageTtl: 0, sessionTtl: 5000, claim: FINGERPRINT });
      assert.deepEqual(stored, { kind: 'stored', renewed: true });
      assert.equal((await backends.messages.get(id('a')))?.payload, 'one');
      assert.ok(Math.abs((await target.sessionTtl()) - 5000) < 10, 'renewed with the record');

      // The same content and id again (a retry): the record decides, `duplicate`, and it renews.
      await backends.sessions.renew(KEY, 100);
      const again = await backends.accepted.accept({ scope, record: record(id('a'), 'one'), messageTtl: 0, sessionTtl: 6000, claim: FINGERPRINT });
      assert.deepEqual(again, { kind: 'duplicate', renewed: true });
      assert.ok(Math.abs((await target.sessionTtl()) - 6000) < 10, 'a duplicate renews too');

      // The same content under another id (a CBC replay under a new minute): the first id, nothing written or renewed.
      await backends.sessions.renew(KEY, 100);
      const replay = await backends.accepted.accept({ scope, record: record(id('b'), 'replayed'), messageTtl: 0, sessionTtl: 7000, claim: FINGERPRINT });
      assert.deepEqual(replay, { kind: 'replay', firstId: id('a') });
      assert.equal(await backends.messages.get(id('b')), null);
      assert.ok(Math.abs((await target.sessionTtl()) - 100) < 10, 'a replay renews nothing');

      // No claim (AES-GCM): stored and renewed.
      const gcm = await backends.accepted.accept({ scope, record: record(id('c'), 'gcm'), messageTtl: 0, sessionTtl: 8000, claim: null });
      assert.deepEqual(gcm, { kind: 'stored', renewed: true });
      assert.ok(Math.abs((await target.sessionTtl()) - 8000) < 10);

      // A new session of the key: the earlier session's claim is not seen.
      assert.equal(await backends.sessions.delete(KEY), true);
      const second = session('2026-12-02T00:05:00.000Z');
      assert.equal(await backends.sessions.create(KEY, second, 100), true);
      const fresh = await backends.accepted.accept({
        scope: { clientKey: KEY, createdAt: second.created_at },
        record: record(id('d'), 'new session'),
        messageTtl: 0,
        sessionTtl: 9000,
        claim: FINGERPRINT,
      });
      assert.deepEqual(fresh, { kind: 'stored', renewed: true });
      assert.equal((await backends.messages.get(id('d')))?.payload, 'new session');
    });
  });
}

suite('embedded', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sms-accepted-'));
  const backends = await openBackends(readConfig({ DATA_DIR: dataDir }), silent);
  const reader = new Database(join(dataDir, EMBEDDED_DATABASE_FILE), { readonly: true });
  return {
    backends,
    async sessionTtl() {
      const row = reader.prepare('SELECT expires_at FROM sessions WHERE key = ?').get(KEY) as { expires_at: number };
      return (row.expires_at - Date.now()) / 1000;
    },
    async close() {
      reader.close();
      await backends.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
});

suite(
  'redis',
  async () => {
    const redis: RedisServer = await startRedisServer();
    const dataDir = mkdtempSync(join(tmpdir(), 'sms-accepted-'));
    const config = readConfig({ DATA_DIR: dataDir, ...redis.env });
    const backends = await openBackends(config, silent);
    const auth = redis.client(config.redis!.authDb);
    return {
      backends,
      async sessionTtl() {
        return auth.ttl(`${config.redis!.keyPrefix}${KEY}`);
      },
      async close() {
        await backends.close();
        await redis.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  },
  skipWithoutRedis('the accepted-message step on Redis'),
);
