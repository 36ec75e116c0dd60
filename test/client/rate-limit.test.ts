/** The client's back-off against the real server's rate limit: 429 with Retry-After is waited out, within bounds. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SecureMessageClient, SecureMessageError, type FetchLike } from '../../src/client/index.js';
import { clientKey, startEmbedded, type EmbeddedFixture } from '../helpers/embedded.js';

describe('rate limit, live', () => {
  let fx: EmbeddedFixture;
  before(async () => {
    // A window a loaded machine cannot outlast: four requests of the burst fall in one, so it meets the limit.
    fx = await startEmbedded([['phone-01', 'Phone']], { WORKERS: '1', RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW_SECONDS: '4' });
  });
  after(async () => fx.close());

  test('a burst past the limit: every 429 is waited out for at least its Retry-After, and everything is delivered', async () => {
    const log: Array<{ sentAt: number; answeredAt: number; status: number; retryAfter: number }> = [];
    const recording: FetchLike = async (input, init) => {
      const sentAt = Date.now();
      const response = await fetch(input, init);
      log.push({ sentAt, answeredAt: Date.now(), status: response.status, retryAfter: Number(response.headers.get('retry-after') ?? 0) });
      return response;
    };
    const c = new SecureMessageClient({ server: fx.server.url, key: clientKey('phone-01'), fetch: recording, retry: { attempts: 5, baseDelayMs: 50 } });
    const ids = [];
    for (let i = 0; i < 6; i++) ids.push((await c.send(`burst ${i}`)).id);
    for (const [i, id] of ids.entries()) assert.equal((await fx.messages.get(id))?.payload, `burst ${i}`);
    const refused = log.flatMap((entry, i) => (entry.status === 429 ? [i] : []));
    assert.ok(refused.length > 0, 'the burst met the limit');
    for (const i of refused) {
      assert.ok(log[i]!.retryAfter >= 1);
      assert.ok(log[i + 1]!.sentAt - log[i]!.answeredAt >= log[i]!.retryAfter * 1000, 'not before Retry-After');
    }
  });

  test('with no retries left, 429 is RateLimitedError carrying Retry-After', async () => {
    const impatient = new SecureMessageClient({ server: fx.server.url, key: clientKey('unknown'), retry: { attempts: 1 } });
    let error: SecureMessageError | undefined;
    for (let i = 0; i < 10 && error === undefined; i++) {
      await impatient.logout().catch((e: SecureMessageError) => (error = e));
    }
    assert.equal(error?.code, 'RATE_LIMITED');
    assert.equal(error?.status, 429);
    assert.ok((error?.retryAfterMs ?? 0) >= 1000);
    assert.equal(error?.retryable, true);
  });
});
