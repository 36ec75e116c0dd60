/**
 * Issue 15: the durable, shared key pool, through real server processes (WORKERS=2) on the
 * embedded store and on Redis + MariaDB. Behaviour only, nothing timed:
 * - a pooled pair is handed out once across two processes and a restart, the oldest first, and
 *   the session record gets the pooled private key byte for byte (no crypto at auth);
 * - the pool refills after being drained, never past KEY_POOL_SIZE;
 * - with KEY_ENCRYPTION_KEY every pooled entry is an encrypted PKCS#8 PEM the real openssl opens;
 *   after a rotation an old entry is handed out re-wrapped under the new key;
 * - a changed SESSION_KEY_BITS never hands out a key of the old size, and the old entries go;
 * - no private key, no key encryption key in any log line.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPublicKey, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { EMBEDDED_DATABASE_FILE } from '../../src/backends/sqlite/database.js';
import { RedisKeys } from '../../src/backends/redis/keys.js';
import { Code } from '../../src/protocol/answers.js';
import { decodeSession } from '../../src/store/store.js';
import { postOnNewConnection } from '../helpers/http.js';
import { findBinary } from '../helpers/real-backends.js';
import { admin } from '../helpers/server-process.js';
import { AUTH_DB } from '../contract/targets.js';
import { DEPLOYMENTS, redisOf, skipFor, startHarness, type Deployment, type Harness } from '../hardening/harness.js';

const K1 = randomBytes(32).toString('base64');
const K2 = randomBytes(32).toString('base64');
const OPENSSL = findBinary('openssl');
/** The harness's REDIS_KEY_PREFIX. */
const PREFIX = 'h10:';

interface Entry {
  bits: number;
  publicKeyPem: string;
  storedPrivateKey: string;
  wrap: string;
}

/** The pool as stored, oldest first, read from the store itself (not through the server). */
async function poolOf(h: Harness, deployment: Deployment): Promise<Entry[]> {
  if (deployment === 'embedded') {
    const db = new Database(join(h.dataDir, EMBEDDED_DATABASE_FILE), { readonly: true });
    try {
      return db
        .prepare<[], { bits: number; public_key: string; private_key: string; wrap: string }>('SELECT bits, public_key, private_key, wrap FROM key_pool ORDER BY id')
        .all()
        .map((row) => ({ bits: row.bits, publicKeyPem: row.public_key, storedPrivateKey: row.private_key, wrap: row.wrap }));
    } finally {
      db.close();
    }
  }
  const client = (await redisOf()).client(AUTH_DB);
  try {
    const keys = new RedisKeys(PREFIX);
    const entries: Entry[] = [];
    for (const bits of [2048, 3072, 4096]) {
      for (const raw of await client.lrange(keys.keyPool(bits), 0, -1)) {
        const entry = JSON.parse(raw) as { public_key: string; private_key: string; wrap: string };
        entries.push({ bits, publicKeyPem: entry.public_key, storedPrivateKey: entry.private_key, wrap: entry.wrap });
      }
    }
    return entries;
  } finally {
    client.disconnect();
  }
}

async function until(probe: () => Promise<boolean>, what: string, timeoutMs = 240_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    assert.ok(Date.now() < deadline, `never happened: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Auth on a connection of its own (the cluster hands each new connection to the next worker): the public key. */
async function authOnNewConnection(h: Harness, deviceId: string): Promise<string> {
  const answer = await postOnNewConnection(h.url, { key: h.key(deviceId), status: 'on' });
  if (answer.body.code !== Code.ok) throw new Error(`auth of ${deviceId}: ${answer.text}`);
  return String(answer.body.message);
}

async function storedKeyOf(h: Harness, deviceId: string): Promise<string> {
  const raw = await h.store.rawSession(h.key(deviceId));
  assert.ok(raw, `a session for ${deviceId}`);
  return decodeSession(raw)!.private_key;
}

/** `openssl pkey -passin pass:<kek> -pubout`: the public key, or null when it refuses. */
function opensslPublicKey(pem: string, kek: string): string | null {
  const result = spawnSync(OPENSSL ?? 'openssl', ['pkey', '-passin', `pass:${kek}`, '-pubout'], { input: pem, encoding: 'utf8' });
  return result.status === 0 ? result.stdout : null;
}

/** Everything secret a log must never hold: PEM headers, any 48-character run of a stored key's body, the KEKs. */
function assertNothingPrivate(output: string, entries: Entry[], what: string): void {
  assert.ok(!output.includes('PRIVATE KEY'), `${what}: a private key PEM header in the logs`);
  for (const kek of [K1, K2]) assert.ok(!output.includes(kek), `${what}: a key encryption key in the logs`);
  for (const entry of entries) {
    const body = entry.storedPrivateKey.split('\n').filter((line) => !line.startsWith('-----')).join('');
    for (let at = 0; at + 48 <= body.length; at += 48) assert.ok(!output.includes(body.slice(at, at + 48)), `${what}: private key bytes in the logs`);
  }
}

const modulusBits = (publicKeyPem: string): number | undefined => createPublicKey(publicKeyPem).asymmetricKeyDetails?.modulusLength;

for (const deployment of DEPLOYMENTS) {
  describe(`durable key pool: ${deployment}`, { skip: skipFor(deployment, `issue 15 key pool on ${deployment}`) }, () => {
    const devices = Array.from({ length: 12 }, (_, i) => `pool-${i}`);
    let h: Harness;
    /** Every pooled entry ever seen, for the log check. */
    const seen: Entry[] = [];
    const outputs: string[] = [];
    const snapshot = async (): Promise<Entry[]> => {
      const entries = await poolOf(h, deployment);
      seen.push(...entries);
      return entries;
    };

    before(async () => {
      h = await startHarness(deployment, devices, { WORKERS: '2', KEY_POOL_SIZE: '4', LOG_LEVEL: 'debug' });
    });
    after(async () => {
      await h?.close();
    });

    test('a pooled pair is handed out once across two processes and a restart, in its stored form', async () => {
      await until(async () => (await poolOf(h, deployment)).length === 4, 'the shared pool filled to KEY_POOL_SIZE');
      const before = await snapshot();
      assert.equal(before.length, 4, 'two processes filling at once never push it past KEY_POOL_SIZE');
      assert.ok(before.every((entry) => entry.bits === 2048 && entry.wrap === 'plain'));

      const first = [];
      for (const device of devices.slice(0, 3)) first.push(await authOnNewConnection(h, device));
      assert.deepEqual(first, before.slice(0, 3).map((entry) => entry.publicKeyPem), 'the three oldest pooled pairs, in order');
      for (const [i, device] of devices.slice(0, 3).entries()) {
        assert.equal(await storedKeyOf(h, device), before[i]!.storedPrivateKey, 'the record holds the pooled private key as stored');
      }
      await until(async () => h.server.logs.filter((line) => line.msg === 'request' && line.op === 'auth').length >= 3, 'the auths logged', 15_000);
      const authPids = new Set(h.server.logs.filter((line) => line.msg === 'request' && line.op === 'auth').map((line) => line.pid));
      assert.equal(authPids.size, 2, 'both worker processes took from the one pool');
      const left = await snapshot();
      for (const key of first) assert.ok(!left.some((entry) => entry.publicKeyPem === key), 'a taken pair is gone from the store');
      assert.equal(left[0]?.publicKeyPem, before[3]?.publicKeyPem, 'the untaken pair is still first');

      outputs.push(h.server.output());
      await h.restart();
      const atRestart = await snapshot();
      assert.equal(atRestart[0]?.publicKeyPem, before[3]?.publicKeyPem, 'the pool survived the restart');
      assert.ok(atRestart.length <= 4);
      // Enough for the next three auths (fillers only add behind the surviving entry, so it stays first).
      await until(async () => (await poolOf(h, deployment)).length >= 3, 'the pool refilled after the restart');
      const second = [];
      for (const device of devices.slice(3, 6)) {
        // Fillers only ever add behind the oldest entry: each auth gets the head of the pool as it is now.
        const head = (await snapshot())[0];
        second.push(await authOnNewConnection(h, device));
        assert.equal(second.at(-1), head?.publicKeyPem, 'the oldest pooled pair');
        assert.equal(await storedKeyOf(h, device), head?.storedPrivateKey);
      }
      assert.equal(second[0], before[3]?.publicKeyPem, 'the first auth after the restart got the pair pooled before it');
      const all = [...first, ...second];
      assert.equal(new Set(all).size, all.length, 'no pair was handed out twice');
      assert.ok(!h.server.logs.some((line) => String(line.msg).startsWith('key pool empty')), 'nothing was generated on demand');
    });

    test('the pool refills after being drained, and stops at KEY_POOL_SIZE', async () => {
      const handed = new Set<string>();
      for (const device of devices.slice(6)) handed.add(await authOnNewConnection(h, device));
      assert.equal(handed.size, devices.length - 6);
      assert.ok(h.server.logs.some((line) => String(line.msg).startsWith('key pool empty')), 'six auths drained a pool of four');
      await until(async () => (await poolOf(h, deployment)).length === 4, 'the pool refilled');
      const refilled = await snapshot();
      for (const entry of refilled) assert.ok(!handed.has(entry.publicKeyPem), 'a handed-out pair never returns to the pool');
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.equal((await poolOf(h, deployment)).length, 4, 'no overshoot once full');
    });

    test('nothing private reaches the logs (LOG_LEVEL=debug)', () => {
      outputs.push(h.server.output());
      assertNothingPrivate(outputs.join('\n'), seen, deployment);
    });
  });

  describe(`durable key pool under KEY_ENCRYPTION_KEY: ${deployment}`, {
    skip: skipFor(deployment, `issue 15 wrapped key pool on ${deployment}`) || (OPENSSL === null && 'openssl not found'),
  }, () => {
    const devices = ['w1', 'w2', 'w3'];
    let h: Harness;
    const seen: Entry[] = [];
    const outputs: string[] = [];

    before(async () => {
      h = await startHarness(deployment, devices, { WORKERS: '2', KEY_POOL_SIZE: '2', KEY_ENCRYPTION_KEY: K1, LOG_LEVEL: 'debug' });
    });
    after(async () => {
      await h?.close();
    });

    test('every pooled entry is an encrypted PKCS#8 PEM that openssl opens with the setting; an auth stores it as it is', async () => {
      await until(async () => (await poolOf(h, deployment)).length === 2, 'the shared pool filled');
      const entries = await poolOf(h, deployment);
      seen.push(...entries);
      for (const entry of entries) {
        assert.match(entry.storedPrivateKey, /^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
        assert.notEqual(entry.wrap, 'plain');
        assert.equal(opensslPublicKey(entry.storedPrivateKey, K1), entry.publicKeyPem, 'openssl recovers the pooled pair');
        assert.equal(opensslPublicKey(entry.storedPrivateKey, K2), null, 'and refuses another passphrase');
      }
      const pem = await authOnNewConnection(h, 'w1');
      assert.equal(pem, entries[0]?.publicKeyPem);
      assert.equal(await storedKeyOf(h, 'w1'), entries[0]?.storedPrivateKey, 'the session record is the pooled bytes: no crypto at auth');
    });

    test('after a rotation, an entry wrapped under the previous key is handed out re-wrapped under the new one', async () => {
      outputs.push(h.server.output());
      const pooled = await poolOf(h, deployment);
      seen.push(...pooled);
      assert.ok(pooled.length > 0);
      // Oldest first: the first auth after the restart takes the oldest entry, made under K1.
      await h.restart({ KEY_ENCRYPTION_KEY: K2, KEY_ENCRYPTION_KEY_PREVIOUS: K1, KEY_POOL_SIZE: '2' });
      const pem = await authOnNewConnection(h, 'w2');
      assert.equal(pem, pooled[0]?.publicKeyPem, 'the entry made under the previous key');
      const stored = await storedKeyOf(h, 'w2');
      assert.equal(opensslPublicKey(stored, K2), pem, 'stored under the new key');
      assert.equal(opensslPublicKey(stored, K1), null);
    });

    test('admin sessions rewrap drops the pooled pairs under the previous key, so it can be removed', async () => {
      const underK1 = seen.find((entry) => entry.wrap !== 'plain')?.wrap;
      assert.ok(underK1 !== undefined);
      const output = admin({ ...h.env, KEY_ENCRYPTION_KEY: K2, KEY_ENCRYPTION_KEY_PREVIOUS: K1 }, 'sessions', 'rewrap');
      assert.match(output, /pooled key pairs under another key discarded: \d+/);
      const left = await poolOf(h, deployment);
      seen.push(...left);
      assert.ok(!left.some((entry) => entry.wrap === underK1), 'no entry under the previous key is left');
      for (const entry of left) assert.equal(opensslPublicKey(entry.storedPrivateKey, K2), entry.publicKeyPem);
    });

    test('a changed SESSION_KEY_BITS never hands out a key of the old size, and the old entries are deleted', async () => {
      outputs.push(h.server.output());
      seen.push(...(await poolOf(h, deployment)));
      await h.restart({ KEY_ENCRYPTION_KEY: K2, SESSION_KEY_BITS: '3072', KEY_POOL_SIZE: '1' });
      const pem = await authOnNewConnection(h, 'w3');
      assert.equal(modulusBits(pem), 3072);
      await until(async () => (await poolOf(h, deployment)).every((entry) => entry.bits === 3072), 'the 2048-bit entries deleted', 30_000);
    });

    test('nothing private reaches the logs (LOG_LEVEL=debug)', async () => {
      seen.push(...(await poolOf(h, deployment)));
      outputs.push(h.server.output());
      assertNothingPrivate(outputs.join('\n'), seen, `${deployment}, wrapped`);
    });
  });
}
