/**
 * Issue 10 over real HTTP, on the embedded store and on Redis + MariaDB: the envelope allowlists
 * (SPEC §11), the AES-CBC replay guard (a captured envelope resent under a new minute), its
 * atomicity under 20 concurrent replays, GCM unaffected, and the per-session
 * INVALID_ENVELOPE_LIMIT (SPEC §10), with per-session state gone once its session is.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { EMBEDDED_DATABASE_FILE } from '../../src/backends/sqlite/database.js';
import { answers, Code, Message } from '../../src/protocol/answers.js';
import { encryptEnvelope } from '../helpers/encrypt.js';
import { postForm } from '../helpers/http.js';
import { AUTH_DB } from '../contract/targets.js';
import { DEPLOYMENTS, redisOf, skipFor, startHarness, type Harness } from './harness.js';

const INVALID = JSON.stringify(answers.invalidMessage().body);

/** Whether any per-session hardening state of this client key is stored. */
async function guardStateExists(h: Harness, clientKey: string): Promise<boolean> {
  if (h.deployment === 'embedded') {
    const db = new Database(join(h.dataDir, EMBEDDED_DATABASE_FILE), { readonly: true });
    try {
      const claims = db.prepare('SELECT COUNT(*) AS n FROM session_content_claims WHERE session_key = ?').get(clientKey) as { n: number };
      const counts = db.prepare('SELECT COUNT(*) AS n FROM session_invalid_counts WHERE session_key = ?').get(clientKey) as { n: number };
      return claims.n + counts.n > 0;
    } finally {
      db.close();
    }
  }
  const redis = await redisOf();
  return (await redis.client(AUTH_DB).exists(`h10:${clientKey}#guard`)) === 1;
}

function withMinute(envelope: string, minute: number | string): string {
  return JSON.stringify({ ...(JSON.parse(envelope) as object), minute });
}

/** The same bytes in the URL-safe alphabet without padding (SPEC §5 accepts both). */
function urlSafe(envelope: string): string {
  const e = JSON.parse(envelope) as Record<string, string>;
  const conv = (b64: string): string => b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  return JSON.stringify({ ...e, encryptedKey: conv(e.encryptedKey!), iv: conv(e.iv!), ciphertext: conv(e.ciphertext!) });
}

for (const deployment of DEPLOYMENTS) {
  describe(`envelope hardening over HTTP: ${deployment}`, { skip: skipFor(deployment, `issue 10 envelope hardening on ${deployment}`) }, () => {
    let h: Harness;
    before(async () => {
      h = await startHarness(deployment, ['replay', 'burst', 'gcm', 'oracle', 'logout']);
    });
    after(async () => h?.close());

    test('AES-CBC: a captured envelope resent under a new minute is "duplicate" with the first id, and nothing more is stored', async () => {
      const pem = await h.auth('replay');
      const captured = encryptEnvelope(pem, 'transfer 100 to Bob', { minute: 1000 });
      const first = await h.submit('replay', captured);
      assert.equal(first.body.message, Message.delivered, first.text);
      const stored = await h.store.messages.list(100);
      for (const minute of [1001, 99999, 'tomorrow']) {
        const replay = await h.submit('replay', withMinute(captured, minute));
        assert.equal(replay.status, 200, replay.text);
        assert.deepEqual(replay.body, answers.duplicate(String(first.body.id)).body);
      }
      // The same bytes in another base64 spelling are the same content.
      const respelled = await h.submit('replay', withMinute(urlSafe(captured), 5));
      assert.deepEqual(respelled.body, answers.duplicate(String(first.body.id)).body);
      assert.equal((await h.store.messages.list(100)).length, stored.length);
      // A new envelope of the same payload (fresh key and iv) is a new message, as for any honest client.
      const fresh = await h.submit('replay', encryptEnvelope(pem, 'transfer 100 to Bob', { minute: 1001 }));
      assert.equal(fresh.body.message, Message.delivered);
    });

    test('20 concurrent replays of one AES-CBC envelope, each under its own minute, give one "delivered"', async () => {
      const pem = await h.auth('burst');
      const captured = encryptEnvelope(pem, 'only once', { minute: 5000 });
      const before = (await h.store.messages.list(1000)).length;
      const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => h.submit('burst', withMinute(captured, 5000 + i))));
      const delivered = replies.filter((r) => r.body.message === Message.delivered);
      const duplicates = replies.filter((r) => r.body.message === Message.duplicate);
      assert.equal(delivered.length, 1, JSON.stringify(replies.map((r) => r.body)));
      assert.equal(duplicates.length, 19);
      assert.ok(duplicates.every((r) => r.body.id === delivered[0]!.body.id), 'every duplicate names the one stored id');
      assert.equal((await h.store.messages.list(1000)).length, before + 1);
    });

    test('AES-GCM is unaffected: a changed minute fails its tag, a resend is a duplicate by id, two minutes are two messages', async () => {
      const pem = await h.auth('gcm');
      const envelope = encryptEnvelope(pem, 'gcm payload', { enc: 'AES-GCM', minute: 42 });
      const first = await h.submit('gcm', envelope);
      assert.equal(first.body.message, Message.delivered);
      assert.deepEqual((await h.submit('gcm', envelope)).body, answers.duplicate(String(first.body.id)).body);
      const moved = await h.submit('gcm', withMinute(envelope, 43));
      assert.equal(moved.text, INVALID);
      const other = await h.submit('gcm', encryptEnvelope(pem, 'gcm payload', { enc: 'AES-GCM', minute: 43 }));
      assert.equal(other.body.message, Message.delivered);
      assert.notEqual(other.body.id, first.body.id);
    });

    test('INVALID_ENVELOPE_LIMIT (10): the 10th invalid answer ends the session; a new auth starts a fresh count', async () => {
      let pem = await h.auth('oracle');
      const good = (text: string) => encryptEnvelope(pem, text);
      for (let i = 1; i <= 9; i++) assert.equal((await h.submit('oracle', `not an envelope ${i}`)).text, INVALID);
      // A delivered message does not reset the count (SPEC §10).
      assert.equal((await h.submit('oracle', good('still fine'))).body.message, Message.delivered);
      assert.ok(await guardStateExists(h, h.key('oracle')), 'the count is kept in the store');
      const tenth = await h.submit('oracle', 'not an envelope 10');
      assert.equal(tenth.text, INVALID, 'the answer that reaches the limit is the same bytes');
      const after = await h.submit('oracle', good('too late'));
      assert.deepEqual(after.body, answers.notFound().body);
      assert.equal(await h.store.sessions.get(h.key('oracle')), null, 'the session is deleted');
      assert.equal(await guardStateExists(h, h.key('oracle')), false, 'its state went with it');
      // Ended as if revoked: the device may authenticate again, with a fresh count.
      pem = await h.auth('oracle');
      for (let i = 1; i <= 9; i++) assert.equal((await h.submit('oracle', `again ${i}`)).text, INVALID);
      assert.equal((await h.submit('oracle', good('fresh session'))).body.message, Message.delivered);
    });

    test("a session's hardening state goes with its logout", async () => {
      const pem = await h.auth('logout');
      assert.equal((await h.submit('logout', encryptEnvelope(pem, 'claimed'))).body.message, Message.delivered);
      assert.equal((await h.submit('logout', 'bad')).text, INVALID);
      assert.ok(await guardStateExists(h, h.key('logout')));
      const off = await postForm(h.url, { key: h.key('logout'), status: 'off' });
      assert.equal(off.body.code, Code.ok);
      assert.equal(await guardStateExists(h, h.key('logout')), false);
    });
  });

  describe(`ALLOWED_ENC and ALLOWED_OAEP_HASH over HTTP: ${deployment}`, { skip: skipFor(deployment, `issue 10 allowlists on ${deployment}`) }, () => {
    let h: Harness;
    before(async () => {
      h = await startHarness(deployment, ['narrow'], { ALLOWED_ENC: 'AES-GCM', ALLOWED_OAEP_HASH: 'SHA-256', INVALID_ENVELOPE_LIMIT: '0' });
    });
    after(async () => h?.close());

    test('outside the lists is "invalid message"; inside is delivered', async () => {
      const pem = await h.auth('narrow');
      const cbc = encryptEnvelope(pem, 'cbc', { enc: 'AES-CBC' });
      assert.equal((await h.submit('narrow', cbc)).text, INVALID);
      // An envelope without `enc` is AES-CBC (SPEC §5), so it is outside too.
      const { enc: _enc, ...implicitCbc } = JSON.parse(cbc) as Record<string, unknown>;
      assert.equal((await h.submit('narrow', JSON.stringify(implicitCbc))).text, INVALID);
      assert.equal((await h.submit('narrow', encryptEnvelope(pem, 'sha1', { enc: 'AES-GCM', oaepHash: 'SHA-1' }))).text, INVALID);
      const ok = await h.submit('narrow', encryptEnvelope(pem, 'gcm', { enc: 'AES-GCM', oaepHash: 'SHA-256' }));
      assert.equal(ok.body.message, Message.delivered, ok.text);
      const stored = await h.store.messages.list(100);
      assert.deepEqual(stored.map((m) => m.payload), ['gcm']);
    });
  });
}

describe('AES-CBC replay guard across two processes on one embedded file', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness('embedded', ['burst'], { WORKERS: '2' });
  });
  after(async () => h?.close());

  test('20 concurrent replays on new connections to a two-worker server give one "delivered"', async () => {
    const pem = await h.auth('burst');
    const captured = encryptEnvelope(pem, 'only once, two processes', { minute: 7000 });
    const replies = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        // A new connection each, so the cluster hands them to both workers in turn.
        const response = await fetch(`${h.url}/api`, {
          method: 'POST',
          body: new URLSearchParams({ key: h.key('burst'), message: withMinute(captured, 7000 + i) }),
          headers: { connection: 'close' },
        });
        return (await response.json()) as Record<string, unknown>;
      }),
    );
    assert.equal(replies.filter((r) => r.message === Message.delivered).length, 1, JSON.stringify(replies));
    assert.equal(replies.filter((r) => r.message === Message.duplicate).length, 19);
    assert.equal((await h.store.messages.list(100)).length, 1);
  });
});
