/** SPEC §8: on the embedded store nothing is lost on restart. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Code, Message } from '../../src/protocol/answers.js';
import { encryptEnvelope } from '../helpers/encrypt.js';
import { clientKey, startEmbedded, type EmbeddedFixture } from '../helpers/embedded.js';
import { postForm } from '../helpers/http.js';

describe('restart on the same DATA_DIR', () => {
  let fx: EmbeddedFixture;
  before(async () => {
    fx = await startEmbedded([['phone-01', 'Phone']]);
  });
  after(async () => fx.close());

  test('sessions and messages survive a stop and start of the server process', async () => {
    const authReply = await postForm(fx.server.url, { key: clientKey('phone-01'), status: 'on' });
    assert.equal(authReply.body.code, Code.ok);
    const publicKey = String(authReply.body.message);
    const sent = await postForm(fx.server.url, { key: clientKey('phone-01'), message: encryptEnvelope(publicKey, 'before restart', { minute: 1 }) });
    assert.equal(sent.body.message, Message.delivered);

    const exitCode = await fx.server.stop();
    assert.equal(exitCode, 0, 'SIGTERM stops the server cleanly');
    const server = await fx.restart();

    // The session is still there: the old public key still works, and auth says "already auth".
    assert.equal((await postForm(server.url, { key: clientKey('phone-01'), status: 'on' })).body.code, Code.already);
    const resent = await postForm(server.url, { key: clientKey('phone-01'), message: encryptEnvelope(publicKey, 'before restart', { minute: 1 }) });
    assert.deepEqual(resent.body, { message: Message.duplicate, code: Code.already, id: sent.body.id });
    const after = await postForm(server.url, { key: clientKey('phone-01'), message: encryptEnvelope(publicKey, 'after restart') });
    assert.equal(after.body.message, Message.delivered);
    assert.equal((await fx.messages.get(String(sent.body.id)))?.payload, 'before restart');
  });
});
