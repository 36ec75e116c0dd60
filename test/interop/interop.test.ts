/**
 * Independent implementations against ours, on the live server:
 * - envelopes made by the client library are opened by Python's pyca/cryptography and by OpenSSL;
 * - envelopes made by Python and by the OpenSSL command line are delivered by the server after a real auth.
 * Nothing here encrypts or decrypts with our own code: the tests only move bytes between the tools.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Code, Message } from '../../src/protocol/answers.js';
import { SecureMessageClient, type FetchLike } from '../../src/client/index.js';
import { clientKey, startEmbedded, TEST_UUID, type EmbeddedFixture } from '../helpers/embedded.js';
import { postForm } from '../helpers/http.js';
import { need, run } from './tools.js';

const PYTHON_SCRIPT = fileURLToPath(new URL('./envelope.py', import.meta.url));
const COMBINATIONS = [
  ['AES-GCM', 'SHA-256'],
  ['AES-CBC', 'SHA-256'],
  ['AES-GCM', 'SHA-1'],
  ['AES-CBC', 'SHA-1'],
] as const;

/** One interpreter for a batch of requests: starting python3 with cryptography costs a few hundred ms. */
function python(command: 'encrypt' | 'decrypt', requests: object[]): Array<Record<string, unknown>> {
  return JSON.parse(run('python3', [PYTHON_SCRIPT, command], JSON.stringify(requests)).toString('utf8')) as Array<Record<string, unknown>>;
}

/** SPEC §6, computed here from the definition: user 0x00 device 0x00 minute 0x00 plaintext. */
function expectedId(deviceId: string, minute: number | string, plaintext: string): string {
  return createHash('sha256').update(`${TEST_UUID}\0${deviceId}\0${String(minute)}\0${plaintext}`, 'utf8').digest('hex');
}

describe('independent clients on the live server', () => {
  let fx: EmbeddedFixture;
  let work: string;
  before(async () => {
    fx = await startEmbedded(
      [
        ['lib-device', 'Library'],
        ['py-device', 'Python'],
        ['ossl-device', 'OpenSSL'],
      ],
      { WORKERS: '1' },
    );
    work = mkdtempSync(join(tmpdir(), 'sms-interop-'));
  });
  after(async () => {
    rmSync(work, { recursive: true, force: true });
    await fx.close();
  });

  describe('the client library\'s envelopes, opened by others', () => {
    const sent: Array<{ envelope: string; payload: string; id: string }> = [];

    before(async () => {
      // The envelopes exactly as they went over the wire.
      let lastMessage = '';
      const capture: FetchLike = (input, init) => {
        lastMessage = new URLSearchParams(String(init.body)).get('message') ?? '';
        return fetch(input, init);
      };
      const client = new SecureMessageClient({ server: fx.server.url, key: clientKey('lib-device'), fetch: capture });
      for (const [enc, oaepHash] of COMBINATIONS) {
        const payload = JSON.stringify({ enc, oaepHash, text: 'Grüße, 世界 😀' });
        const { id } = await client.send(payload, { enc, oaepHash });
        sent.push({ envelope: lastMessage, payload, id });
      }
    });

    test('pyca/cryptography decrypts every combination with the session\'s private key from the store', (t) => {
      if (!need(t, 'python')) return;
      return (async () => {
        const session = await fx.sessions.get(clientKey('lib-device'));
        assert.ok(session);
        const openedAll = python('decrypt', sent.map(({ envelope }) => ({ private_key: session.private_key, envelope })));
        for (const [i, [enc, oaepHash]] of COMBINATIONS.entries()) {
          const { payload, id } = sent[i]!;
          const opened = openedAll[i]!;
          assert.equal(opened.plaintext, payload);
          assert.equal(opened.enc, enc);
          assert.equal(opened.oaepHash, oaepHash);
          assert.equal(opened.keyBytes, 32, 'AES-256');
          assert.equal(opened.ivBytes, enc === 'AES-GCM' ? 12 : 16);
          assert.equal(id, expectedId('lib-device', opened.minute as number, payload));
          assert.equal((await fx.messages.get(id))?.payload, payload);
        }
      })();
    });

    test('the OpenSSL command line decrypts the CBC envelopes (pkeyutl OAEP, enc -d)', async (t) => {
      if (!need(t, 'openssl')) return;
      const session = await fx.sessions.get(clientKey('lib-device'));
      assert.ok(session);
      const privateKey = join(work, 'session.key');
      writeFileSync(privateKey, session.private_key, { mode: 0o600 });
      for (const [i, [enc, oaepHash]] of COMBINATIONS.entries()) {
        if (enc !== 'AES-CBC') continue; // `openssl enc` has no AEAD modes
        const { envelope, payload } = sent[i]!;
        const fields = JSON.parse(envelope) as Record<string, string>;
        const md = oaepHash === 'SHA-1' ? 'sha1' : 'sha256';
        const aesKey = run(
          'openssl',
          ['pkeyutl', '-decrypt', '-inkey', privateKey, '-pkeyopt', 'rsa_padding_mode:oaep', '-pkeyopt', `rsa_oaep_md:${md}`, '-pkeyopt', `rsa_mgf1_md:${md}`],
          Buffer.from(fields.encryptedKey!, 'base64'),
        );
        const iv = Buffer.from(fields.iv!, 'base64');
        const plain = run(
          'openssl',
          ['enc', '-d', '-aes-256-cbc', '-K', aesKey.toString('hex'), '-iv', iv.toString('hex')],
          Buffer.from(fields.ciphertext!, 'base64'),
        );
        assert.equal(plain.toString('utf8'), payload);
      }
    });
  });

  describe('envelopes made by others, delivered by the server', () => {
    test('pyca/cryptography: GCM and CBC, both OAEP hashes, URL-safe unpadded base64, AES-128; a re-encryption is a duplicate', async (t) => {
      if (!need(t, 'python')) return;
      const key = clientKey('py-device');
      const auth = await postForm(fx.server.url, { key, status: 'on' });
      assert.equal(auth.body.code, Code.ok);
      const publicKey = String(auth.body.message);
      const cases = [
        ...COMBINATIONS.map(([enc, oaepHash]) => ({ enc, oaepHash })),
        { enc: 'AES-GCM', oaepHash: 'SHA-256', base64: 'urlsafe-unpadded' },
        { enc: 'AES-CBC', oaepHash: 'SHA-256', keyBytes: 16 },
        { enc: 'AES-GCM', oaepHash: 'SHA-256', minute: '2026-11-27 17:05' },
      ];
      const plaintextOf = (i: number): string => `{"from":"python","case":${i},"text":"Grüße ✓"}`;
      const minuteOf = (i: number): number | string => (cases[i] as { minute?: string }).minute ?? 29_000_000 + i;
      const envelopes = python('encrypt', [
        ...cases.map((options, i) => ({ public_key: publicKey, plaintext: plaintextOf(i), minute: minuteOf(i), ...options })),
        // The first case once more, re-encrypted with another key and mode: the same message.
        { public_key: publicKey, plaintext: plaintextOf(0), minute: minuteOf(0), enc: 'AES-CBC' },
      ]).map((envelope) => JSON.stringify(envelope));
      for (const [i, options] of cases.entries()) {
        const plaintext = plaintextOf(i);
        const minute = minuteOf(i);
        const envelope = envelopes[i]!;
        const reply = await postForm(fx.server.url, { key, message: envelope });
        assert.equal(reply.body.message, Message.delivered, `${JSON.stringify(options)}: ${reply.text}`);
        assert.equal(reply.body.id, expectedId('py-device', minute, plaintext));
        const stored = await fx.messages.get(String(reply.body.id));
        assert.equal(stored?.payload, plaintext);
        assert.equal(stored?.minute, minute);
      }
      const duplicate = await postForm(fx.server.url, { key, message: envelopes.at(-1)! });
      assert.equal(duplicate.body.message, Message.duplicate);
      assert.equal(duplicate.body.id, expectedId('py-device', minuteOf(0), plaintextOf(0)));
    });

    test('the OpenSSL command line: pkeyutl OAEP (SHA-256 and SHA-1) and enc -aes-256-cbc', async (t) => {
      if (!need(t, 'openssl')) return;
      const key = clientKey('ossl-device');
      const auth = await postForm(fx.server.url, { key, status: 'on' });
      assert.equal(auth.body.code, Code.ok);
      const publicKeyFile = join(work, 'session.pub');
      writeFileSync(publicKeyFile, String(auth.body.message));
      for (const md of ['sha256', 'sha1'] as const) {
        const plaintext = `made by openssl with OAEP ${md}: Grüße ✓\n`;
        const plainFile = join(work, `plain-${md}.txt`);
        writeFileSync(plainFile, plaintext);
        const aesKeyHex = run('openssl', ['rand', '-hex', '32']).toString().trim();
        const ivHex = run('openssl', ['rand', '-hex', '16']).toString().trim();
        const ciphertext = run('openssl', ['enc', '-aes-256-cbc', '-K', aesKeyHex, '-iv', ivHex, '-in', plainFile]);
        const encryptedKey = run(
          'openssl',
          ['pkeyutl', '-encrypt', '-pubin', '-inkey', publicKeyFile, '-pkeyopt', 'rsa_padding_mode:oaep', '-pkeyopt', `rsa_oaep_md:${md}`, '-pkeyopt', `rsa_mgf1_md:${md}`],
          Buffer.from(aesKeyHex, 'hex'),
        );
        const base64 = (bytes: Buffer): string => run('openssl', ['base64', '-A'], bytes).toString().trim();
        const minute = Math.floor(Date.now() / 60_000);
        const envelope = JSON.stringify({
          encryptedKey: base64(encryptedKey),
          iv: base64(Buffer.from(ivHex, 'hex')),
          ciphertext: base64(ciphertext),
          minute,
          enc: 'AES-CBC',
          oaepHash: md === 'sha1' ? 'SHA-1' : 'SHA-256',
        });
        const reply = await postForm(fx.server.url, { key, message: envelope });
        assert.equal(reply.body.message, Message.delivered, reply.text);
        assert.equal(reply.body.id, expectedId('ossl-device', minute, plaintext));
        assert.equal((await fx.messages.get(String(reply.body.id)))?.payload, plaintext);
      }
    });
  });
});
