/**
 * Issue 5: the session key pool. Behaviour only (no timing): a pair is handed out once, the pool
 * refills, an empty pool falls back to on-demand generation, and stopping leaves nothing behind.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createPrivateKey, createPublicKey, privateDecrypt, publicEncrypt, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { SessionKeyPair } from '../../src/session/key-pair.js';
import { SessionKeyPool } from '../../src/session/key-pool.js';
import { LowPriorityKeyGenerator, type KeyPairGenerator } from '../../src/session/keygen-process.js';

/** Fake pairs with unique labels: cheap, and a duplicate hand-out shows as a repeated label. */
class FakeGenerator implements KeyPairGenerator {
  made = 0;
  running = 0;
  maxRunning = 0;
  closed = false;
  /** When set, generate() waits until release() is called. */
  hold = false;
  private held: Array<() => void> = [];

  constructor(private readonly prefix: string) {}

  async generate(): Promise<SessionKeyPair> {
    this.running += 1;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    if (this.hold) await new Promise<void>((resolve) => this.held.push(resolve));
    else await new Promise<void>((resolve) => setImmediate(resolve));
    this.running -= 1;
    const n = this.made++;
    return { publicKeyPem: `${this.prefix}-public-${n}`, privateKeyPem: `${this.prefix}-private-${n}` };
  }

  release(): void {
    this.hold = false;
    for (const resolve of this.held.splice(0)) resolve();
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 2));
  assert.ok(condition(), `never happened: ${what}`);
}

describe('session key pool', () => {
  test('fills to its size in the background and hands out ready pairs', async () => {
    const background = new FakeGenerator('bg');
    const onDemand = new FakeGenerator('od');
    const pool = new SessionKeyPool({ size: 5, background, onDemand: () => onDemand.generate() }).start();
    await until(() => pool.stats().ready === 5, 'pool full');
    assert.equal(background.made, 5, 'no more than the size is made');
    const pair = await pool.take();
    assert.match(pair.publicKeyPem, /^bg-public-/);
    assert.equal(onDemand.made, 0);
    await pool.stop();
  });

  test('never hands a pair out twice, under many concurrent takes, from pool and on demand alike', async () => {
    const background = new FakeGenerator('bg');
    const onDemand = new FakeGenerator('od');
    const pool = new SessionKeyPool({
      size: 8,
      background,
      backgroundConcurrency: 2,
      onDemand: () => onDemand.generate(),
      onDemandConcurrency: 3,
    }).start();
    await until(() => pool.stats().ready === 8, 'pool full');
    const pairs = await Promise.all(Array.from({ length: 300 }, () => pool.take()));
    const labels = pairs.map((pair) => pair.privateKeyPem);
    assert.equal(new Set(labels).size, labels.length, 'a pair was handed out twice');
    for (const pair of pairs) assert.equal(pair.publicKeyPem.replace('public', 'private'), pair.privateKeyPem);
    assert.ok(onDemand.made > 0, 'the drained pool fell back to on-demand generation');
    const stats = pool.stats();
    assert.equal(stats.fromPool + stats.afterWait, 300);
    await pool.stop();
  });

  test('refills as it drains', async () => {
    const background = new FakeGenerator('bg');
    const pool = new SessionKeyPool({ size: 4, background, onDemand: () => new FakeGenerator('od').generate() }).start();
    await until(() => pool.stats().ready === 4, 'pool full');
    for (let i = 0; i < 4; i++) await pool.take();
    await until(() => pool.stats().ready === 4, 'pool full again');
    assert.ok(background.made >= 8);
    await pool.stop();
  });

  test('an empty pool generates on demand, no more at once than allowed', async () => {
    const background = new FakeGenerator('bg');
    background.hold = true; // the background supply is stuck: only on-demand can serve
    const onDemand = new FakeGenerator('od');
    const pool = new SessionKeyPool({
      size: 2,
      background,
      onDemand: () => onDemand.generate(),
      onDemandConcurrency: 2,
    }).start();
    const pairs = await Promise.all(Array.from({ length: 10 }, () => pool.take()));
    assert.equal(onDemand.made, 10);
    assert.equal(onDemand.maxRunning, 2);
    assert.ok(pairs.every((pair) => pair.publicKeyPem.startsWith('od-')));
    background.release();
    await until(() => pool.stats().ready === 2, 'background pairs land in the pool');
    await pool.stop();
  });

  test('size 0 is no pool: every pair is made on demand and nothing runs in the background', async () => {
    const background = new FakeGenerator('bg');
    const onDemand = new FakeGenerator('od');
    const pool = new SessionKeyPool({ size: 0, background, onDemand: () => onDemand.generate() }).start();
    const [a, b] = await Promise.all([pool.take(), pool.take()]);
    assert.notEqual(a.privateKeyPem, b?.privateKeyPem);
    assert.equal(background.made, 0);
    assert.equal(background.running, 0);
    await pool.stop();
  });

  test('a failing on-demand generation fails that auth only; the next one succeeds', async () => {
    let calls = 0;
    const pool = new SessionKeyPool({
      size: 0,
      background: new FakeGenerator('bg'),
      onDemand: async () => {
        calls += 1;
        if (calls === 1) throw new Error('boom');
        return { publicKeyPem: 'p', privateKeyPem: 'k' };
      },
    }).start();
    await assert.rejects(pool.take(), /boom/);
    assert.equal((await pool.take()).privateKeyPem, 'k');
    await pool.stop();
  });

  test('a failing background generator is retried after a pause, not in a hot loop', async () => {
    let attempts = 0;
    const background: KeyPairGenerator = {
      generate: async () => {
        attempts += 1;
        throw new Error('broken');
      },
      close: async () => {},
    };
    const pool = new SessionKeyPool({ size: 3, background, onDemand: () => new FakeGenerator('od').generate(), retryDelayMs: 20 }).start();
    await until(() => attempts >= 3, 'retried');
    const seen = attempts;
    await pool.stop();
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(attempts, seen, 'no retry after stop: its timer was cleared');
  });

  test('stop drops ready pairs, fails waiting auths, closes the generator; later takes are refused', async () => {
    const background = new FakeGenerator('bg');
    const onDemand = new FakeGenerator('od');
    onDemand.hold = true;
    const pool = new SessionKeyPool({ size: 2, background, onDemand: () => onDemand.generate() });
    const waiting = pool.take(); // not started: nothing in the pool, on-demand is held
    await pool.stop();
    await assert.rejects(waiting, /stopped/);
    await assert.rejects(pool.take(), /stopped/);
    assert.equal(background.closed, true);
    assert.equal(pool.stats().ready, 0);
    onDemand.release();
  });
});

describe('low-priority key generator', () => {
  test('makes real RSA-2048 pairs (e = 65537) in a helper at the lowest priority, and stops it', async () => {
    const generator = new LowPriorityKeyGenerator(2048);
    const pair = await generator.generate();
    const publicKey = createPublicKey(pair.publicKeyPem);
    assert.equal(publicKey.asymmetricKeyDetails?.modulusLength, 2048);
    assert.equal(publicKey.asymmetricKeyDetails?.publicExponent, 65537n);
    assert.match(pair.publicKeyPem, /^-----BEGIN PUBLIC KEY-----\n/);
    assert.match(pair.privateKeyPem, /^-----BEGIN PRIVATE KEY-----\n/);
    const secret = randomBytes(32);
    const wrapped = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, secret);
    const unwrapped = privateDecrypt(
      { key: createPrivateKey(pair.privateKeyPem), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      wrapped,
    );
    assert.deepEqual(unwrapped, secret, 'the two halves belong together');

    const pid = generator.pid;
    assert.ok(pid !== undefined);
    if (process.platform === 'linux') {
      const nice = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[16];
      assert.equal(nice, '19');
    }
    const second = await generator.generate();
    assert.notEqual(second.privateKeyPem, pair.privateKeyPem);

    const pending = assert.rejects(generator.generate(), /closed/);
    await generator.close();
    await pending;
    assert.throws(() => process.kill(pid, 0), /ESRCH/, 'the helper is gone');
    await assert.rejects(generator.generate(), /closed/);
  });
});
