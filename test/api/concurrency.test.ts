/** SPEC §4 and §6 under concurrency, over HTTP against the embedded store. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Code, Message } from '../../src/protocol/answers.js';
import { findDevice } from '../../src/directory/device-list.js';
import { encryptEnvelope } from '../helpers/encrypt.js';
import { clientKey, startEmbedded, TEST_UUID, type EmbeddedFixture } from '../helpers/embedded.js';
import { postForm } from '../helpers/http.js';

describe('concurrency on the embedded store', () => {
  let fx: EmbeddedFixture;
  before(async () => {
    fx = await startEmbedded([
      ['phone-01', 'Phone'],
      ['watch', 'Watch'],
      ['car', 'Car'],
    ]);
  });
  after(async () => fx.close());

  test('25 simultaneous auths for one key: exactly one session is created, the rest are "already auth"', async () => {
    const replies = await Promise.all(Array.from({ length: 25 }, () => postForm(fx.server.url, { key: clientKey('phone-01'), status: 'on' })));
    const codes = replies.map((reply) => reply.body.code);
    assert.equal(codes.filter((code) => code === Code.ok).length, 1, JSON.stringify(codes));
    assert.equal(codes.filter((code) => code === Code.already).length, 24);
    const winner = replies.find((reply) => reply.body.code === Code.ok)!;
    // The key handed out is the one the session holds: a message under it opens.
    const sent = await postForm(fx.server.url, { key: clientKey('phone-01'), message: encryptEnvelope(String(winner.body.message), 'proof') });
    assert.equal(sent.body.message, Message.delivered);
  });

  test('two devices of one user logging in together both end up on', async () => {
    const [watch, car] = await Promise.all([
      postForm(fx.server.url, { key: clientKey('watch'), status: 'on' }),
      postForm(fx.server.url, { key: clientKey('car'), status: 'on' }),
    ]);
    assert.equal(watch.body.code, Code.ok);
    assert.equal(car.body.code, Code.ok);
    const devices = await fx.devicesOf(TEST_UUID);
    assert.equal(findDevice(devices, 'watch')?.status, 'on');
    assert.equal(findDevice(devices, 'car')?.status, 'on');
  });

  test('50 simultaneous distinct submits are all delivered and stored', async () => {
    const pem = await fx.publicKeyOf(clientKey('watch'));
    const envelopes = Array.from({ length: 50 }, (_, i) => encryptEnvelope(pem, `{"n":${i}}`, { minute: 1000 }));
    const replies = await Promise.all(envelopes.map((message) => postForm(fx.server.url, { key: clientKey('watch'), message })));
    assert.ok(replies.every((reply) => reply.body.message === Message.delivered), JSON.stringify(replies.map((r) => r.body)));
    const ids = new Set(replies.map((reply) => String(reply.body.id)));
    assert.equal(ids.size, 50);
    for (const id of ids) assert.ok(await fx.messages.get(id), `message ${id} is stored`);
  });

  test('the same payload and minute, re-encrypted and sent at once, is stored once', async () => {
    const pem = await fx.publicKeyOf(clientKey('car'));
    const before = (await fx.messages.list(10_000)).length;
    const replies = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        postForm(fx.server.url, { key: clientKey('car'), message: encryptEnvelope(pem, 'same reading', { minute: 42, enc: i % 2 ? 'AES-GCM' : 'AES-CBC' }) }),
      ),
    );
    const messages = replies.map((reply) => reply.body.message);
    assert.equal(messages.filter((m) => m === Message.delivered).length, 1, JSON.stringify(messages));
    assert.equal(messages.filter((m) => m === Message.duplicate).length, 9);
    assert.equal(new Set(replies.map((reply) => reply.body.id)).size, 1);
    assert.equal((await fx.messages.list(10_000)).length, before + 1);
  });
});
