// SPEC §5/§6 conformance: the pyca/cryptography vectors in test/fixtures/envelopes.json.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { openEnvelope, InvalidEnvelopeError, rsaOaepUnwrapper } from '../../src/envelope/index.js';
import { messageId } from '../../src/protocol/message-id.js';

import { envelopeVectors as fixture } from '../helpers/vectors.js';

const unwrapper = rsaOaepUnwrapper(createPrivateKey(fixture.private_key));

describe('envelope fixtures: valid', () => {
  test('there are valid cases', () => assert.ok(fixture.valid.length > 0));
  for (const c of fixture.valid) {
    test(c.name, () => {
      const opened = openEnvelope(c.message, unwrapper);
      assert.equal(opened.plaintext, c.plaintext);
      assert.equal(opened.canonicalMinute, c.canonical_minute);
      assert.deepEqual(opened.plaintextBytes, Buffer.from(c.plaintext, 'utf8'));
      assert.equal(messageId(fixture.user_id, fixture.device_id, opened.canonicalMinute, opened.plaintextBytes), c.id);
    });
  }
});

// Why each named vector must fail, so a vector cannot pass by tripping an earlier, unrelated check.
// `reason` is internal; it is read here only to pin which check fired.
const EXPECTED_REASON: Record<string, string> = {
  'cbc-bad-padding': 'aes-cbc: bad padding',
  'rsa-other-key': 'rsa-oaep: decryption failed',
  'oaep-hash-mismatch': 'rsa-oaep: decryption failed',
  'gcm-tag-tampered': 'aes-gcm: authentication failed',
  'gcm-minute-altered': 'aes-gcm: authentication failed',
  'iv-wrong-length': 'aes-cbc: iv length',
  'aes-key-20-bytes': 'rsa-oaep: AES key size',
  'plaintext-not-utf8': 'plaintext: not UTF-8',
  'pkcs1v15-key': 'rsa-oaep: decryption failed',
  'not-json': 'not JSON',
  'json-array': 'not a JSON object',
  'json-string': 'not JSON',
  'missing-minute': 'minute: invalid',
  'missing-iv': 'iv: missing or not a string',
  'minute-float': 'minute: invalid',
  'minute-bool': 'minute: invalid',
  'minute-null': 'minute: invalid',
  'minute-string-too-long': 'minute: invalid',
  'encryptedKey-not-base64': 'base64: character outside the alphabet',
  'ciphertext-not-block-multiple': 'aes-cbc: ciphertext length',
  'ciphertext-empty': 'aes-cbc: ciphertext length',
  'enc-unknown': 'enc: not supported',
  'oaepHash-unknown': 'oaepHash: not supported',
  'encryptedKey-number': 'encryptedKey: missing or not a string',
  'encryptedKey-truncated': 'rsa-oaep: ciphertext length is not the modulus length',
};

describe('envelope fixtures: invalid', () => {
  test('there are invalid cases', () => assert.ok(fixture.invalid.length > 0));
  for (const c of fixture.invalid) {
    test(c.name, () => {
      assert.throws(() => openEnvelope(c.message, unwrapper), (err: unknown) => {
        assert.ok(err instanceof InvalidEnvelopeError, `expected InvalidEnvelopeError, got ${String(err)}`);
        assert.equal(err.message, 'invalid message');
        const expected = EXPECTED_REASON[c.name];
        if (expected !== undefined) assert.equal(err.reason, expected);
        return true;
      });
    });
  }
});
