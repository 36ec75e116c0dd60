/** src/session/key-wrap.ts on its own: the module later issues call to wrap other keys the same way. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { isWrapped, KeyUnwrapError, KeyWrap, NO_KEY_WRAP } from '../../src/session/key-wrap.js';

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const plainPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const K1 = randomBytes(32).toString('base64');
const K2 = randomBytes(32).toString('base64');
const sameKey = (a: ReturnType<typeof createPrivateKey>): boolean =>
  a.export({ type: 'pkcs8', format: 'der' }).equals(privateKey.export({ type: 'pkcs8', format: 'der' }));

test('wrap gives an encrypted PKCS#8 PEM that unwrap opens; without a key, the plain PEM', () => {
  const wrapped = new KeyWrap({ current: K1 }).wrap(plainPem);
  assert.ok(isWrapped(wrapped));
  assert.ok(sameKey(new KeyWrap({ current: K1 }).unwrap(wrapped)));
  assert.equal(NO_KEY_WRAP.wrap(plainPem), plainPem);
  assert.ok(sameKey(new KeyWrap({ current: K1 }).unwrap(plainPem)), 'plain records from before the setting are still read');
});

test('the previous key reads, never writes; rewrap moves a record to the current key and leaves a current one alone', () => {
  const old = new KeyWrap({ current: K1 }).wrap(privateKey);
  const rotating = new KeyWrap({ current: K2, previous: [K1] });
  assert.ok(sameKey(rotating.unwrap(old)));
  const moved = rotating.rewrap(old);
  assert.ok(moved !== null && isWrapped(moved));
  assert.ok(sameKey(new KeyWrap({ current: K2 }).unwrap(moved)));
  assert.equal(rotating.rewrap(moved), null);
  assert.ok(rotating.rewrap(plainPem) !== null, 'a plain record is wrapped by rewrap');
  assert.equal(NO_KEY_WRAP.rewrap(plainPem), null);
  assert.equal(new KeyWrap({ current: undefined, previous: [K2] }).rewrap(moved), plainPem, 'without a current key, rewrap decrypts');
});

test('a key that no configured passphrase opens is a KeyUnwrapError, never anything else', () => {
  const wrapped = new KeyWrap({ current: K1 }).wrap(privateKey);
  assert.throws(() => new KeyWrap({ current: K2 }).unwrap(wrapped), KeyUnwrapError);
  assert.throws(() => NO_KEY_WRAP.unwrap(wrapped), KeyUnwrapError);
  assert.throws(() => NO_KEY_WRAP.unwrap('not a pem'), KeyUnwrapError);
});
