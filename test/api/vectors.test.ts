/**
 * The conformance vectors of test/fixtures, through the live server on the embedded store:
 * envelopes.json (pyca/cryptography) submitted over HTTP under a session holding the vector's
 * private key, and devices.json (PHP serialize()) through a real auth and logout.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { answers, Code, Message } from '../../src/protocol/answers.js';
import { META_KEYS, startEmbedded, type EmbeddedFixture } from '../helpers/embedded.js';
import { postForm } from '../helpers/http.js';
import { waitForLog } from '../helpers/server-process.js';

interface EnvelopeVectors {
  user_id: string;
  device_id: string;
  key: string;
  private_key: string;
  valid: Array<{ name: string; message: string; plaintext: string; canonical_minute: string; id: string }>;
  invalid: Array<{ name: string; message: string }>;
}
interface DeviceVectors {
  cases: Array<{
    name: string;
    meta_value: string;
    device_id: string;
    found: boolean;
    device_name: string | null;
    set_status: 'on' | 'off';
    meta_value_after: string;
  }>;
  malformed: Array<{ name: string; meta_value: string }>;
}

const envelopes = JSON.parse(readFileSync(new URL('../fixtures/envelopes.json', import.meta.url), 'utf8')) as EnvelopeVectors;
const devices = JSON.parse(readFileSync(new URL('../fixtures/devices.json', import.meta.url), 'utf8')) as DeviceVectors;

describe('envelopes.json over HTTP', () => {
  let fx: EmbeddedFixture;
  before(async () => {
    fx = await startEmbedded([]);
    // The session a real auth would have made, but holding the vectors' private key.
    await fx.sessions.create(
      envelopes.key,
      { user_id: envelopes.user_id, device_id: envelopes.device_id, device_name: 'Vector', private_key: envelopes.private_key, created_at: new Date().toISOString() },
      0,
    );
  });
  after(async () => fx.close());

  for (const vector of envelopes.valid) {
    test(`valid: ${vector.name} is delivered with its id and plaintext, then is a duplicate`, async () => {
      const first = await postForm(fx.server.url, { key: envelopes.key, message: vector.message });
      assert.equal(first.status, 200, first.text);
      assert.deepEqual(first.body, { message: Message.delivered, code: Code.ok, id: vector.id });
      const record = await fx.messages.get(vector.id);
      assert.equal(record?.payload, vector.plaintext);
      assert.equal(String(record?.minute), vector.canonical_minute);
      const again = await postForm(fx.server.url, { key: envelopes.key, message: vector.message });
      assert.deepEqual(again.body, { message: Message.duplicate, code: Code.already, id: vector.id });
    });
  }

  for (const vector of envelopes.invalid) {
    test(`invalid: ${vector.name} gets the one invalid-message answer`, async () => {
      const reply = await postForm(fx.server.url, { key: envelopes.key, message: vector.message });
      assert.equal(reply.status, 400);
      assert.equal(reply.text, JSON.stringify(answers.invalidMessage().body));
    });
  }

  test('nothing but the valid vectors was stored', async () => {
    const stored = (await fx.messages.list(1000)).map((record) => record.id).sort();
    assert.deepEqual(stored, envelopes.valid.map((vector) => vector.id).sort());
  });
});

describe('devices.json through auth and logout', () => {
  let fx: EmbeddedFixture;
  let uuidCounter = 0;
  before(async () => {
    fx = await startEmbedded([]);
  });
  after(async () => fx.close());

  /** A fresh WordPress user whose devices meta is exactly `metaValue`. */
  async function userWithDevices(metaValue: string): Promise<{ uuid: string; wpUserId: string }> {
    const uuid = `00000000-0000-4000-8000-${String(++uuidCounter).padStart(12, '0')}`;
    const wpUserId = await fx.directory.addUser(uuid);
    await fx.usermeta.insert(wpUserId, META_KEYS.devicesMetaKey, metaValue);
    return { uuid, wpUserId };
  }

  for (const vector of devices.cases) {
    test(`${vector.name}: ${vector.found ? `found as "${vector.device_name}"` : 'not found'}, value after exactly as PHP wrote it`, async () => {
      const { uuid, wpUserId } = await userWithDevices(vector.meta_value);
      const key = `${uuid}${vector.device_id}`;
      if (vector.set_status === 'off') {
        // Logout sets off: open the session first without touching the row, as a previous auth would have.
        await fx.sessions.create(key, { user_id: uuid, device_id: vector.device_id, device_name: 'x', private_key: envelopes.private_key, created_at: new Date().toISOString() }, 0);
        const reply = await postForm(fx.server.url, { key, status: 'off' });
        assert.deepEqual(reply.body, { message: Message.deleted, code: Code.ok });
      } else {
        const reply = await postForm(fx.server.url, { key, status: 'on' });
        if (vector.found) {
          assert.equal(reply.body.code, Code.ok, reply.text);
          assert.equal(reply.body.name, vector.device_name);
        } else {
          assert.deepEqual(reply.body, { message: Message.notFound, code: Code.notFound });
          assert.equal(await fx.sessions.get(key), null);
        }
      }
      assert.equal(await fx.usermeta.read(wpUserId, META_KEYS.devicesMetaKey), vector.meta_value_after);
    });
  }

  for (const vector of devices.malformed) {
    test(`malformed ${vector.name}: holds no devices, stays unchanged, server stays up`, async () => {
      const { uuid, wpUserId } = await userWithDevices(vector.meta_value);
      const reply = await postForm(fx.server.url, { key: `${uuid}phone-01`, status: 'on' });
      assert.deepEqual(reply.body, { message: Message.notFound, code: Code.notFound });
      assert.equal(await fx.usermeta.read(wpUserId, META_KEYS.devicesMetaKey), vector.meta_value);
      const warning = await waitForLog(fx.server, (line) => line.msg === 'devices meta value unusable: treated as holding no devices' && line.wpUserId === wpUserId);
      assert.ok(warning, 'the unusable value is logged');
    });
  }
});
