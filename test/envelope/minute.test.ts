import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalMinute, isValidMinute, MAX_MINUTE_STRING_LENGTH } from '../../src/envelope/minute.js';

describe('isValidMinute', () => {
  test('safe integers', () => {
    for (const n of [0, -0, 1, -1, 28928160, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]) {
      assert.equal(isValidMinute(n), true, String(n));
    }
  });

  test('not safe integers', () => {
    for (const n of [1.5, -0.1, Number.MAX_SAFE_INTEGER + 1, Number.MIN_SAFE_INTEGER - 1, 1e21, NaN, Infinity, -Infinity]) {
      assert.equal(isValidMinute(n), false, String(n));
    }
  });

  test('other types', () => {
    for (const v of [true, false, null, undefined, {}, [], [1], 10n, Symbol('m')]) {
      assert.equal(isValidMinute(v), false, String(v));
    }
  });

  test('strings up to 64 code points', () => {
    assert.equal(MAX_MINUTE_STRING_LENGTH, 64);
    assert.equal(isValidMinute(''), true);
    assert.equal(isValidMinute('2026-11-27 17:05'), true);
    assert.equal(isValidMinute('x'.repeat(64)), true);
    assert.equal(isValidMinute('x'.repeat(65)), false);
    // Astral characters are one code point but two UTF-16 units.
    assert.equal(isValidMinute('📱'.repeat(64)), true);
    assert.equal(isValidMinute('📱'.repeat(65)), false);
    assert.equal(isValidMinute('📱'.repeat(63) + 'ab'), false);
    assert.equal(isValidMinute('x'.repeat(1000)), false);
  });

  test('strings that have no unambiguous UTF-8 form or would blur the id separator', () => {
    assert.equal(isValidMinute('\uD800'), false);
    assert.equal(isValidMinute('a\uDC00b'), false);
    assert.equal(isValidMinute('\uD83D\uDCF1'), true);
    assert.equal(isValidMinute('a\u0000b'), false);
  });
});

describe('canonicalMinute', () => {
  test('integers in plain decimal', () => {
    assert.equal(canonicalMinute(28928160), '28928160');
    assert.equal(canonicalMinute(-5), '-5');
    assert.equal(canonicalMinute(-0), '0');
    assert.equal(canonicalMinute(0), '0');
    assert.equal(canonicalMinute(Number.MAX_SAFE_INTEGER), '9007199254740991');
    assert.equal(canonicalMinute(Number.MIN_SAFE_INTEGER), '-9007199254740991');
  });

  test('strings as they are', () => {
    for (const s of ['', '28928160', '0028928160', '1e3', ' 5 ', 'minute-42', 'Zoë']) assert.equal(canonicalMinute(s), s);
  });

  test('JSON number forms of one integer share one canonical text', () => {
    for (const text of ['28928160', '2.892816e7', '28928160.0']) {
      const parsed: unknown = JSON.parse(text);
      assert.ok(isValidMinute(parsed));
      assert.equal(canonicalMinute(parsed), '28928160');
    }
  });
});
