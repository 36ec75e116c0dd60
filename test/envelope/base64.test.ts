import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { decodeBase64 } from '../../src/envelope/base64.js';
import { InvalidEnvelopeError } from '../../src/envelope/errors.js';

const rejects = (input: string): void => {
  assert.throws(() => decodeBase64(input), InvalidEnvelopeError, JSON.stringify(input));
};

describe('decodeBase64', () => {
  test('standard and URL-safe, padded and unpadded, give the same bytes', () => {
    for (let n = 0; n <= 40; n++) {
      const bytes = randomBytes(n);
      const std = bytes.toString('base64');
      const url = bytes.toString('base64url');
      for (const s of [std, std.replace(/=+$/, ''), url, url + '='.repeat((4 - (url.length % 4)) % 4)]) {
        assert.deepEqual(decodeBase64(s), bytes, s);
      }
    }
  });

  test('characters of each alphabet', () => {
    assert.deepEqual(decodeBase64('+/+/'), Buffer.from([0xfb, 0xff, 0xbf]));
    assert.deepEqual(decodeBase64('-_-_'), Buffer.from([0xfb, 0xff, 0xbf]));
  });

  test('empty string is the empty byte string', () => {
    assert.equal(decodeBase64('').length, 0);
  });

  test('rejects characters outside the alphabets', () => {
    for (const s of ['!!!not base64!!!', 'QUJD RA==', 'QUJD\nRA==', 'QUJD\tRA', ' QUJD', 'QUJD.', 'QU*D', 'QUJDé', 'ＱＵＪＤ', 'QUJD\u0000']) rejects(s);
  });

  test('rejects a mix of the two alphabets', () => {
    rejects('+_AA');
    rejects('-/AA');
  });

  test('rejects misplaced or excess padding', () => {
    for (const s of ['=', '==', '===', '====', 'QQ===', 'QUJD====', '=QUJD', 'QU=JD', 'QQ==QQ==', 'QUI=QUJD', 'Q===']) rejects(s);
  });

  test('rejects padded input whose length is not a multiple of 4', () => {
    rejects('QQ=');   // 'A' needs two '='
    rejects('QUJDRA=');
    rejects('QUJDRA===');
  });

  test('rejects a length of 1 mod 4', () => {
    for (const s of ['Q', 'QUJDR', 'QUJDRUZHS']) rejects(s);
  });

  test('rejects non-zero pad bits (one spelling per byte string)', () => {
    assert.deepEqual(decodeBase64('QQ=='), Buffer.from('A'));
    rejects('QR==');
    rejects('QR');
    assert.deepEqual(decodeBase64('QUI='), Buffer.from('AB'));
    rejects('QUJ=');
    rejects('QUJ');
  });

  test('never returns bytes Buffer.from would silently invent', () => {
    // Buffer.from skips junk: this pins that we do not.
    assert.deepEqual(Buffer.from('QU!JD', 'base64'), Buffer.from('ABC'));
    rejects('QU!JD');
  });
});
