/**
 * Every row of SPEC §1's table, over real HTTP against the server process on the embedded store.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { answers, BadRequestReason, Code, Message } from '../../src/protocol/answers.js';
import { findDevice } from '../../src/directory/device-list.js';
import { encryptEnvelope } from '../helpers/encrypt.js';
import { clientKey, META_KEYS, OTHER_UUID, startEmbedded, TEST_UUID, type EmbeddedFixture } from '../helpers/embedded.js';
import { postForm, postMultipart, request, type Reply } from '../helpers/http.js';
import { waitForLog } from '../helpers/server-process.js';

const INVALID_MESSAGE_BYTES = JSON.stringify(answers.invalidMessage().body);

function assertJson(reply: Reply, status: number, code: number, message?: string): void {
  assert.equal(reply.status, status, reply.text);
  assert.match(reply.headers.get('content-type') ?? '', /^application\/json/);
  assert.equal(reply.body.code, code, reply.text);
  if (message !== undefined) assert.equal(reply.body.message, message);
}

async function auth(url: string, key: string): Promise<Reply> {
  return postForm(url, { key, status: 'on' });
}

describe('SPEC §1 over HTTP, embedded store', () => {
  let fx: EmbeddedFixture;
  let url: string;

  before(async () => {
    fx = await startEmbedded(
      [
        ['phone-01', 'Phone'],
        ['tablet', 'Tablet'],
        ['desk', 'Desk'],
      ],
      // More invalid envelopes than the per-session limit, to compare their bytes; the limit itself is test/hardening's.
      { INVALID_ENVELOPE_LIMIT: '0' },
    );
    url = fx.server.url;
  });
  after(async () => fx.close());

  describe('auth', () => {
    test('a known device gets a fresh SPKI public key and its name, and its status becomes on', async () => {
      const reply = await auth(url, clientKey('phone-01'));
      assertJson(reply, 200, Code.ok);
      assert.equal(reply.body.name, 'Phone');
      const pem = String(reply.body.message);
      assert.match(pem, /^-----BEGIN PUBLIC KEY-----\n/);
      const key = createPublicKey(pem);
      assert.equal(key.asymmetricKeyType, 'rsa');
      assert.equal(key.asymmetricKeyDetails?.modulusLength, 2048);
      assert.equal(key.asymmetricKeyDetails?.publicExponent, 65537n);
      assert.equal(findDevice(await fx.devicesOf(TEST_UUID), 'phone-01')?.status, 'on');
      const session = await fx.sessions.get(clientKey('phone-01'));
      assert.equal(session?.user_id, TEST_UUID);
      assert.equal(session?.device_id, 'phone-01');
      assert.equal(session?.device_name, 'Phone');
      assert.match(session?.private_key ?? '', /^-----BEGIN PRIVATE KEY-----/);
    });

    test('a second auth for the same key is "already auth" and changes nothing', async () => {
      const before = await fx.sessions.get(clientKey('phone-01'));
      const reply = await auth(url, clientKey('phone-01'));
      assertJson(reply, 200, Code.already, Message.alreadyAuth);
      assert.deepEqual(await fx.sessions.get(clientKey('phone-01')), before);
    });

    test('an unknown user, an unknown device and a key off the grammar are all "not found"', async () => {
      for (const key of [
        clientKey('phone-01', OTHER_UUID),
        clientKey('no-such-device'),
        clientKey('bad/char'),
        TEST_UUID, // no device id at all
        'short',
        clientKey('x'.repeat(65)),
      ]) {
        const reply = await auth(url, key);
        assertJson(reply, 200, Code.notFound, Message.notFound);
        assert.deepEqual(Object.keys(reply.body).sort(), ['code', 'message']);
        assert.equal(await fx.sessions.get(key), null);
      }
    });
  });

  describe('submit', () => {
    let publicKey: string;
    before(async () => {
      const reply = await auth(url, clientKey('tablet'));
      assertJson(reply, 200, Code.ok);
      publicKey = String(reply.body.message);
    });

    test('a valid envelope is delivered with its id and stored in the SPEC §7 layout', async () => {
      const envelope = encryptEnvelope(publicKey, '{"temp":21}', { minute: 29412345 });
      const reply = await postForm(url, { key: clientKey('tablet'), message: envelope });
      assertJson(reply, 200, Code.ok, Message.delivered);
      const id = String(reply.body.id);
      assert.match(id, /^[0-9a-f]{64}$/);
      const record = await fx.messages.get(id);
      assert.ok(record);
      assert.deepEqual(Object.keys(record), ['id', 'user_id', 'device_id', 'device_name', 'minute', 'received_at', 'payload']);
      assert.equal(record.id, id);
      assert.equal(record.user_id, TEST_UUID);
      assert.equal(record.device_id, 'tablet');
      assert.equal(record.device_name, 'Tablet');
      assert.equal(record.minute, 29412345);
      assert.equal(record.payload, '{"temp":21}');
      assert.match(record.received_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    });

    test('the same payload for the same minute, re-encrypted, is a duplicate with the same id', async () => {
      const first = await postForm(url, { key: clientKey('tablet'), message: encryptEnvelope(publicKey, 'again', { minute: 5 }) });
      const second = await postForm(url, {
        key: clientKey('tablet'),
        message: encryptEnvelope(publicKey, 'again', { minute: 5, enc: 'AES-GCM', keyBytes: 16 }),
      });
      assertJson(first, 200, Code.ok, Message.delivered);
      assertJson(second, 200, Code.already, Message.duplicate);
      assert.equal(second.body.id, first.body.id);
    });

    test('a string minute is kept as a string', async () => {
      const reply = await postForm(url, { key: clientKey('tablet'), message: encryptEnvelope(publicKey, 's', { minute: '2026-11-27 17:05' }) });
      assertJson(reply, 200, Code.ok);
      assert.equal((await fx.messages.get(String(reply.body.id)))?.minute, '2026-11-27 17:05');
    });

    test('multipart/form-data works as well as urlencoded', async () => {
      const reply = await postMultipart(url, { key: clientKey('tablet'), message: encryptEnvelope(publicKey, 'multipart body') });
      assertJson(reply, 200, Code.ok, Message.delivered);
    });

    test('every unusable envelope gets exactly the same bytes and stores nothing', async () => {
      // GCM, so that altering the minute or the ciphertext is detectable (CBC is malleable by design).
      const good = JSON.parse(encryptEnvelope(publicKey, 'x', { minute: 7, enc: 'AES-GCM' })) as Record<string, unknown>;
      const before = (await fx.messages.list(1000)).length;
      const bad = [
        'not json',
        '[]',
        '{}',
        JSON.stringify({ ...good, iv: 'AAAA' }),
        JSON.stringify({ ...good, enc: 'AES-CTR' }),
        JSON.stringify({ ...good, oaepHash: 'SHA-512' }),
        JSON.stringify({ ...good, minute: 8 }),
        JSON.stringify({ ...good, ciphertext: 'AAAAAAAAAAAAAAAAAAAAAAAA' }),
        JSON.stringify({ ...good, enc: 'AES-CBC' }),
        JSON.stringify({ ...good, encryptedKey: Buffer.alloc(256, 1).toString('base64') }),
        encryptEnvelope(publicKey, Buffer.from([0xff, 0xfe, 0x00])),
        '',
      ];
      for (const message of bad) {
        const reply = await postForm(url, { key: clientKey('tablet'), message });
        assert.equal(reply.status, 400);
        assert.equal(reply.text, INVALID_MESSAGE_BYTES, `for ${message.slice(0, 40)}`);
      }
      assert.equal((await fx.messages.list(1000)).length, before);
    });

    test('a submit without a session is "not found"', async () => {
      const reply = await postForm(url, { key: clientKey('desk'), message: encryptEnvelope(publicKey, 'x') });
      assertJson(reply, 200, Code.notFound, Message.notFound);
    });

    test('plaintext, private keys and whole client keys never reach the log', async () => {
      const secret = 'very-secret-plaintext-4c1f';
      const reply = await postForm(url, { key: clientKey('tablet'), message: encryptEnvelope(publicKey, secret) });
      assert.ok(await waitForLog(fx.server, (line) => line.op === 'submit' && line.code === reply.body.code), 'requests are logged');
      const output = fx.server.output();
      assert.ok(!output.includes(secret));
      assert.ok(!output.includes('PRIVATE KEY'));
      assert.ok(!output.includes(clientKey('tablet')));
    });
  });

  describe('logout', () => {
    test('deletes the session and sets the device off; a second logout is "not found"', async () => {
      await auth(url, clientKey('desk'));
      assert.equal(findDevice(await fx.devicesOf(TEST_UUID), 'desk')?.status, 'on');
      const reply = await postForm(url, { key: clientKey('desk'), status: 'off' });
      assertJson(reply, 200, Code.ok, Message.deleted);
      assert.equal(await fx.sessions.get(clientKey('desk')), null);
      assert.equal(findDevice(await fx.devicesOf(TEST_UUID), 'desk')?.status, 'off');
      assertJson(await postForm(url, { key: clientKey('desk'), status: 'off' }), 200, Code.notFound, Message.notFound);
    });
  });

  describe('malformed requests are 400 with a reason and change nothing', () => {
    const cases: Array<[string, Record<string, string> | [string, string][], string]> = [
      ['no key', { status: 'on' }, BadRequestReason.missingKey],
      ['empty key', { key: '', status: 'on' }, BadRequestReason.missingKey],
      ['key over 200 characters', { key: 'k'.repeat(201), status: 'on' }, BadRequestReason.keyTooLong],
      ['status in upper case', { key: clientKey('phone-01'), status: 'ON' }, BadRequestReason.unknownStatus],
      ['unknown status', { key: clientKey('phone-01'), status: 'maybe' }, BadRequestReason.unknownStatus],
      ['status and message', { key: clientKey('phone-01'), status: 'on', message: '{}' }, BadRequestReason.statusAndMessage],
      ['neither status nor message', { key: clientKey('phone-01') }, BadRequestReason.nothingToDo],
      ['a repeated field', [['key', clientKey('phone-01')], ['key', 'x'], ['status', 'off']], BadRequestReason.repeatedField],
    ];
    for (const [name, fields, reason] of cases) {
      test(name, async () => {
        const sessionBefore = await fx.sessions.get(clientKey('phone-01'));
        const reply = await postForm(url, fields);
        assertJson(reply, 400, Code.badRequest, Message.badRequest);
        assert.equal(reply.body.error, reason);
        assert.deepEqual(await fx.sessions.get(clientKey('phone-01')), sessionBefore);
      });
    }

    test('a key of exactly 200 characters is not a bad request', async () => {
      assertJson(await auth(url, 'k'.repeat(200)), 200, Code.notFound);
    });

    test('a file part in multipart is a bad request', async () => {
      const reply = await postMultipart(url, { key: clientKey('phone-01'), status: 'off', upload: new Blob(['data']) });
      assertJson(reply, 400, Code.badRequest, Message.badRequest);
      assert.equal(reply.body.error, BadRequestReason.fileNotAccepted);
      assert.notEqual(await fx.sessions.get(clientKey('phone-01')), null, 'the logout did not happen');
    });
  });

  describe('transport errors', () => {
    test('a body over MAX_BODY_BYTES is 413, urlencoded or multipart', async () => {
      const big = 'x'.repeat(262144 + 10);
      for (const reply of [
        await postForm(url, { key: clientKey('phone-01'), message: big }),
        await postMultipart(url, { key: clientKey('phone-01'), message: big }),
      ]) {
        assertJson(reply, 413, Code.badRequest, Message.badRequest);
        assert.equal(reply.body.error, BadRequestReason.bodyTooLarge);
      }
    });

    test('another content type is 415', async () => {
      for (const type of ['application/json', 'text/plain', 'application/xml']) {
        const reply = await request(url, '/api', { method: 'POST', headers: { 'content-type': type }, body: '{"key":"k","status":"on"}' });
        assertJson(reply, 415, Code.badRequest, Message.badRequest);
        assert.equal(typeof reply.body.error, 'string');
      }
    });

    test('another method on /api is a JSON 405 naming POST', async () => {
      for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
        const reply = await request(url, '/api', { method });
        assertJson(reply, 405, Code.badRequest);
        assert.equal(reply.headers.get('allow'), 'POST');
      }
    });

    test('another route is a JSON 404', async () => {
      for (const path of ['/', '/api/x', '/wp-login.php', '/%%%']) {
        const reply = await request(url, path, { method: 'POST' });
        assert.ok(reply.status === 404 || reply.status === 400, `${path}: ${reply.status}`);
        assert.match(reply.headers.get('content-type') ?? '', /^application\/json/);
        assert.equal(typeof reply.body.code, 'number');
      }
    });

    test('/healthz and /readyz answer', async () => {
      assertJson(await request(url, '/healthz'), 200, Code.ok);
      const ready = await request(url, '/readyz');
      assertJson(ready, 200, Code.ok);
      assert.deepEqual(ready.body.backends, { sqlite: 'up' });
    });
  });
});

describe('rate limit', () => {
  let fx: EmbeddedFixture;
  before(async () => {
    fx = await startEmbedded([['phone-01', 'Phone']], { RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW_SECONDS: '60' });
  });
  after(async () => fx.close());

  test('past RATE_LIMIT_MAX requests a client gets 429 with Retry-After', async () => {
    for (let i = 0; i < 3; i++) assertJson(await postForm(fx.server.url, { key: 'k', status: 'off' }), 200, Code.notFound);
    const reply = await postForm(fx.server.url, { key: 'k', status: 'off' });
    assertJson(reply, 429, Code.tooMany, Message.tooManyRequests);
    assert.ok(Number(reply.headers.get('retry-after')) >= 1);
    assertJson(await request(fx.server.url, '/healthz'), 200, Code.ok);
  });
});

describe('freshness window', () => {
  let fx: EmbeddedFixture;
  let publicKey: string;
  before(async () => {
    fx = await startEmbedded([['phone-01', 'Phone']], { MINUTE_WINDOW: '5' });
    publicKey = String((await auth(fx.server.url, clientKey('phone-01'))).body.message);
  });
  after(async () => fx.close());

  test('an integer minute further than MINUTE_WINDOW from the clock is "expired" and not stored', async () => {
    // Two minutes beyond the window on either side, so a minute turning over during the test
    // (the server reads its own clock) cannot bring one inside it.
    const now = Math.floor(Date.now() / 60_000);
    for (const minute of [now - 7, now + 7]) {
      const reply = await postForm(fx.server.url, { key: clientKey('phone-01'), message: encryptEnvelope(publicKey, 'late', { minute }) });
      assertJson(reply, 400, Code.badRequest, Message.expired);
      assert.deepEqual(Object.keys(reply.body).sort(), ['code', 'message']);
    }
    assert.equal((await fx.messages.list(10)).length, 0);
    const fresh = await postForm(fx.server.url, { key: clientKey('phone-01'), message: encryptEnvelope(publicKey, 'fresh', { minute: now - 3 }) });
    assertJson(fresh, 200, Code.ok);
  });

  test('a string minute is not checked against the clock', async () => {
    const reply = await postForm(fx.server.url, { key: clientKey('phone-01'), message: encryptEnvelope(publicKey, 's', { minute: 'long ago' }) });
    assertJson(reply, 200, Code.ok);
  });
});

describe('store unreachable', () => {
  let fx: EmbeddedFixture;
  before(async () => {
    fx = await startEmbedded([['phone-01', 'Phone']]);
  });
  after(async () => fx.close());

  test('an auth that cannot write its session is 503 with Retry-After, and leaves neither a session nor the status on', async () => {
    // Another connection holds the write lock longer than the server's busy timeout.
    fx.db.exec('BEGIN IMMEDIATE');
    let reply: Reply;
    try {
      reply = await auth(fx.server.url, clientKey('phone-01'));
    } finally {
      fx.db.exec('ROLLBACK');
    }
    assertJson(reply, 503, Code.unavailable, Message.unavailable);
    assert.ok(Number(reply.headers.get('retry-after')) >= 1);
    assert.equal(await fx.sessions.get(clientKey('phone-01')), null);
    // The session and the status share one commit on the embedded store: neither was written.
    assert.notEqual(findDevice(await fx.devicesOf(TEST_UUID), 'phone-01')?.status, 'on');
    const ready = await request(fx.server.url, '/readyz');
    assertJson(ready, 200, Code.ok);
    assertJson(await auth(fx.server.url, clientKey('phone-01')), 200, Code.ok, undefined);
    assert.equal(findDevice(await fx.devicesOf(TEST_UUID), 'phone-01')?.status, 'on');
  });
});

describe('settings that shape the protocol', () => {
  let fx: EmbeddedFixture;
  before(async () => {
    fx = await startEmbedded([], { SESSION_KEY_BITS: '3072', USER_ID_LENGTH: '8', KEY_POOL_SIZE: '0' });
    await fx.directory.addUser('user-001');
    await fx.directory.addDevice('user-001', 'sensor', 'Sensor');
  });
  after(async () => fx.close());

  test('USER_ID_LENGTH splits the key, and SESSION_KEY_BITS=3072 gives 3072-bit session keys that work', async () => {
    const reply = await auth(fx.server.url, 'user-001sensor');
    assertJson(reply, 200, Code.ok);
    const publicKey = String(reply.body.message);
    assert.equal(createPublicKey(publicKey).asymmetricKeyDetails?.modulusLength, 3072);
    const sent = await postForm(fx.server.url, { key: 'user-001sensor', message: encryptEnvelope(publicKey, 'long key', { oaepHash: 'SHA-1' }) });
    assertJson(sent, 200, Code.ok, Message.delivered);
    assert.equal((await fx.messages.get(String(sent.body.id)))?.user_id, 'user-001');
  });

  test('a UUID held by two users finds no one', async () => {
    await fx.directory.addUser('user-002');
    await fx.directory.addDevice('user-002', 'sensor', 'Sensor');
    // WordPress allows the same meta on two users; SPEC §3 says that is "not found".
    await fx.usermeta.insert('999', META_KEYS.uuidMetaKey, 'user-002');
    assertJson(await auth(fx.server.url, 'user-002sensor'), 200, Code.notFound, Message.notFound);
  });
});
