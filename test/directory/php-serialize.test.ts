import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  canonicalIntText,
  parsePhp,
  PHP_MAX_DEPTH,
  phpKeyFromString,
  phpKeyIdentity,
  PhpSerializeError,
  PhpUnserializeError,
  serializePhp,
  type PhpEntry,
  type PhpKey,
  type PhpUnserializeReason,
  type PhpValue,
} from '../../src/directory/php-serialize.js';

function roundTrip(text: string): PhpValue {
  const value = parsePhp(text);
  assert.equal(serializePhp(value).toString('utf8'), text);
  return value;
}

function refuses(input: string | Uint8Array, reason: PhpUnserializeReason): void {
  assert.throws(
    () => parsePhp(input),
    (error: unknown) => error instanceof PhpUnserializeError && error.reason === reason,
    `expected ${reason} for ${typeof input === 'string' ? JSON.stringify(input.slice(0, 80)) : 'bytes'}`,
  );
}

function nested(depth: number): string {
  return 'a:1:{i:0;'.repeat(depth) + 'N;' + '}'.repeat(depth);
}

describe('parsePhp / serializePhp: round trips', () => {
  test('scalars', () => {
    assert.deepEqual(roundTrip('N;'), { kind: 'null' });
    assert.deepEqual(roundTrip('b:0;'), { kind: 'bool', value: false });
    assert.deepEqual(roundTrip('b:1;'), { kind: 'bool', value: true });
    assert.deepEqual(roundTrip('i:0;'), { kind: 'int', text: '0' });
    assert.deepEqual(roundTrip('i:-42;'), { kind: 'int', text: '-42' });
    assert.deepEqual(roundTrip('s:0:"";'), { kind: 'string', bytes: Buffer.alloc(0) });
  });

  test('ints beyond 2^53 keep their digits', () => {
    assert.deepEqual(roundTrip('i:9223372036854775807;'), { kind: 'int', text: '9223372036854775807' });
    assert.deepEqual(roundTrip('i:-9223372036854775808;'), { kind: 'int', text: '-9223372036854775808' });
    assert.deepEqual(roundTrip('i:9007199254740993;'), { kind: 'int', text: '9007199254740993' });
  });

  test('ints PHP accepts in other spellings are kept as written', () => {
    roundTrip('i:+5;');
    roundTrip('i:007;');
    roundTrip('i:-0;');
    assert.equal(canonicalIntText('+007'), '7');
    assert.equal(canonicalIntText('-0'), '0');
  });

  test('floats keep their text', () => {
    for (const text of ['0.25', '-0', 'INF', '-INF', 'NAN', '1.0E+25', '1.0E-7', '3', '.5', '1.', '-1.5e3']) {
      assert.deepEqual(roundTrip(`d:${text};`), { kind: 'float', text });
    }
  });

  test('string lengths are UTF-8 byte counts', () => {
    const value = roundTrip('s:24:"Téléphone de Zoë 📱";');
    assert.ok(value.kind === 'string');
    assert.equal(value.bytes.toString('utf8'), 'Téléphone de Zoë 📱');
    roundTrip('s:4:"📱";');
    roundTrip('s:2:"é";');
    refuses('s:1:"é";', 'wrong-string-length');
    refuses('s:19:"Téléphone de Zoë 📱";', 'wrong-string-length');
  });

  test('strings may hold quotes, semicolons and braces', () => {
    const value = roundTrip('s:9:"a";b"}{;:";');
    assert.ok(value.kind === 'string');
    assert.equal(value.bytes.toString('utf8'), 'a";b"}{;:');
  });

  test('binary strings from a Buffer', () => {
    const bytes = Buffer.concat([Buffer.from('s:3:"'), Buffer.from([0xff, 0x00, 0xc3]), Buffer.from('";')]);
    const value = parsePhp(bytes);
    assert.deepEqual(value, { kind: 'string', bytes: Buffer.from([0xff, 0x00, 0xc3]) });
    assert.deepEqual(serializePhp(value), bytes);
  });

  test('nested arrays with both key kinds', () => {
    const text =
      'a:3:{i:0;s:1:"x";s:4:"tags";a:2:{i:0;s:1:"x";i:1;a:1:{s:1:"k";d:0.5;}}i:-7;a:0:{}}';
    const value = roundTrip(text);
    assert.ok(value.kind === 'array');
    assert.equal(value.entries.length, 3);
    assert.deepEqual(value.entries[2]?.key, { kind: 'int', text: '-7' });
  });

  test('nesting up to the limit is accepted', () => {
    roundTrip(nested(PHP_MAX_DEPTH));
  });

  test('the parse does not alias the input buffer', () => {
    const input = Buffer.from('s:3:"abc";');
    const value = parsePhp(input);
    input[5] = 0x7a;
    assert.ok(value.kind === 'string');
    assert.equal(value.bytes.toString(), 'abc');
  });
});

describe('parsePhp: refusals', () => {
  test('objects, custom objects, enums and references are never instantiated', () => {
    refuses('O:8:"stdClass":1:{s:4:"name";s:1:"x";}', 'object');
    refuses('a:1:{i:0;O:8:"stdClass":0:{}}', 'object');
    refuses('C:11:"ArrayObject":21:{x:i:0;a:0:{};m:a:0:{}}', 'custom-object');
    refuses('E:7:"Foo:Bar";', 'enum');
    refuses('r:1;', 'reference');
    refuses('R:1;', 'reference');
    refuses('a:2:{i:0;s:1:"x";i:1;R:2;}', 'reference');
    refuses('S:1:"\\61";', 'unsupported-type');
  });

  test('truncated input', () => {
    for (const text of ['', 'N', 'b:1', 'i:5', 'd:0.5', 's:3:"ab', 's:3:"abc"', 'a:1:{i:0;N;', 'a:1:{', 'a:1', 's:']) {
      assert.throws(() => parsePhp(text), PhpUnserializeError, JSON.stringify(text));
    }
    refuses('a:1:{i:0;N;', 'truncated');
    refuses('i:5', 'truncated');
  });

  test('wrong string length', () => {
    refuses('s:5:"abc";', 'wrong-string-length');
    refuses('s:2:"abc";', 'wrong-string-length');
    refuses('a:1:{s:8:"phone-01";a:1:{s:4:"name";s:99:"Phone";}}', 'wrong-string-length');
  });

  test('count mismatch', () => {
    refuses('a:1:{i:0;a:2:{i:0;N;}i:1;s:20:"xxxxxxxxxxxxxxxxxxxx";}', 'count-mismatch');
    refuses('a:1:{i:0;N;i:1;N;}', 'count-mismatch');
  });

  test('trailing bytes after the top value', () => {
    refuses('N;N;', 'trailing-bytes');
    refuses('a:0:{} ', 'trailing-bytes');
    refuses('i:1;x', 'trailing-bytes');
  });

  test('bad number syntax', () => {
    for (const text of ['i:;', 'i:1.5;', 'i:0x10;', 'i: 1;', 'i:--1;', 'd:;', 'd:.;', 'd:1e;', 'd:+INF;', 'd:nan;', 'd:1,5;']) {
      refuses(text, 'bad-number');
    }
    refuses('b:2;', 'syntax');
    refuses('s:-1:"";', 'bad-number');
    refuses('a:x:{}', 'bad-number');
  });

  test('ints outside int64', () => {
    refuses('i:9223372036854775808;', 'int-out-of-range');
    refuses('i:-9223372036854775809;', 'int-out-of-range');
    refuses(`i:${'9'.repeat(100000)};`, 'int-out-of-range');
  });

  test('lengths and counts only in the spelling PHP writes', () => {
    refuses('s:03:"abc";', 'non-canonical-length');
    refuses('a:01:{i:0;N;}', 'non-canonical-length');
  });

  test('bad and duplicate keys', () => {
    refuses('a:1:{N;N;N;N;}', 'bad-key');
    refuses('a:1:{d:1.5;N;}', 'bad-key');
    refuses('a:1:{a:0:{}N;}', 'bad-key');
    refuses('a:1:{b:1;N;N;}', 'bad-key');
    refuses('a:2:{i:1;N;i:1;N;}', 'duplicate-key');
    refuses('a:2:{i:1;N;i:+01;N;}', 'duplicate-key');
    // PHP stores the string key "1" as the int key 1.
    refuses('a:2:{i:1;N;s:1:"1";N;}', 'duplicate-key');
    roundTrip('a:2:{i:1;N;s:2:"01";N;}');
    roundTrip('a:2:{i:0;N;s:2:"-0";N;}');
  });

  test('nesting deeper than the limit', () => {
    refuses(nested(PHP_MAX_DEPTH + 1), 'too-deep');
    refuses(nested(200000), 'too-deep');
    refuses('a:1:{i:0;'.repeat(500000), 'too-deep');
  });

  test('counts larger than the input could hold', () => {
    refuses('a:1000000:{}', 'count-too-large');
    refuses('a:2:{i:0;N;}', 'count-too-large');
    refuses('a:3:{i:0;N;i:1;N;}', 'count-too-large');
    refuses('a:999999999999999:{', 'count-too-large');
    refuses(`a:${'9'.repeat(400)}:{}`, 'count-too-large');
    refuses('s:999999999999999:"x";', 'wrong-string-length');
    refuses('s:999999999999999:"x', 'truncated');
    refuses(`s:${'9'.repeat(400)}:"x";`, 'count-too-large');
  });

  test('not serialized at all', () => {
    refuses('{"phone-01":{"name":"json"}}', 'unsupported-type');
    refuses('hello', 'unsupported-type');
  });

  test('a string that is not valid Unicode', () => {
    refuses('s:1:"\uD800";', 'invalid-unicode');
  });
});

describe('serializePhp', () => {
  test('writes what PHP writes', () => {
    const value: PhpValue = {
      kind: 'array',
      entries: [
        { key: { kind: 'string', bytes: Buffer.from('name') }, value: { kind: 'string', bytes: Buffer.from('Zoë') } },
        { key: { kind: 'int', text: '7' }, value: { kind: 'float', text: '1.0E+25' } },
        { key: phpKeyFromString('12'), value: { kind: 'bool', value: true } },
        { key: phpKeyFromString('012'), value: { kind: 'null' } },
      ],
    };
    assert.equal(serializePhp(value).toString('utf8'), 'a:4:{s:4:"name";s:4:"Zoë";i:7;d:1.0E+25;i:12;b:1;s:3:"012";N;}');
  });

  test('refuses values the parser would refuse', () => {
    assert.throws(() => serializePhp({ kind: 'int', text: '1.5' }), PhpSerializeError);
    assert.throws(() => serializePhp({ kind: 'int', text: '9223372036854775808' }), PhpSerializeError);
    assert.throws(() => serializePhp({ kind: 'float', text: 'Infinity' }), PhpSerializeError);
    const dup: PhpValue = {
      kind: 'array',
      entries: [
        { key: { kind: 'int', text: '1' }, value: { kind: 'null' } },
        { key: { kind: 'string', bytes: Buffer.from('1') }, value: { kind: 'null' } },
      ],
    };
    assert.throws(() => serializePhp(dup), PhpSerializeError);
    let deep: PhpValue = { kind: 'null' };
    for (let i = 0; i < PHP_MAX_DEPTH + 1; i++) deep = { kind: 'array', entries: [{ key: { kind: 'int', text: '0' }, value: deep }] };
    assert.throws(() => serializePhp(deep), PhpSerializeError);
  });
});

// Generators shared by the property tests.

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

const intText: fc.Arbitrary<string> = fc.oneof(
  fc.bigInt({ min: INT64_MIN, max: INT64_MAX }).map(String),
  fc.integer({ min: -1000, max: 1000 }).map(String),
  fc.constantFrom('0', '-0', '+5', '007', '-0042', '9223372036854775807', '-9223372036854775808'),
);

const floatText: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('0.25', '-0', 'INF', '-INF', 'NAN', '1.0E+25', '0.1', '1.0E-7', '3', '.5', '1.'),
  fc
    .tuple(
      fc.constantFrom('', '-', '+'),
      fc.stringMatching(/^[0-9]{1,6}$/),
      fc.option(fc.stringMatching(/^[0-9]{1,6}$/)),
      fc.option(fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), fc.stringMatching(/^[0-9]{1,3}$/))),
    )
    .map(([sign, int, frac, exp]) => `${sign}${int}${frac === null ? '' : `.${frac}`}${exp === null ? '' : exp.join('')}`),
);

const bytesArb: fc.Arbitrary<Buffer> = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 12 }).map((s) => Buffer.from(s, 'utf8')),
  fc.constantFrom('name', 'status', 'id', 'on', 'off', '";}', '12', '-0', '').map((s) => Buffer.from(s, 'utf8')),
  fc.uint8Array({ maxLength: 12 }).map((u) => Buffer.from(u)),
);

const keyArb: fc.Arbitrary<PhpKey> = fc.oneof(
  intText.map((text): PhpKey => ({ kind: 'int', text })),
  bytesArb.map((bytes): PhpKey => ({ kind: 'string', bytes })),
);

const { value: phpValueArb } = fc.letrec<{ value: PhpValue; array: PhpValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 6 },
    fc.constant<PhpValue>({ kind: 'null' }),
    fc.boolean().map((value): PhpValue => ({ kind: 'bool', value })),
    intText.map((text): PhpValue => ({ kind: 'int', text })),
    floatText.map((text): PhpValue => ({ kind: 'float', text })),
    bytesArb.map((bytes): PhpValue => ({ kind: 'string', bytes })),
    tie('array'),
  ),
  array: fc
    .uniqueArray(
      fc.tuple(keyArb, tie('value')).map(([key, value]): PhpEntry => ({ key, value })),
      {
      maxLength: 5,
        selector: (entry: PhpEntry) => phpKeyIdentity(entry.key),
      },
    )
    .map((entries): PhpValue => ({ kind: 'array', entries })),
}));

const poisons = ['O:8:"stdClass":0:{}', 'C:1:"X":0:{}', 'r:1;', 'R:1;', 'E:3:"A:B";', 'a:99999:{', '}', '";', 's:9:"', '\uD800'];

describe('parsePhp / serializePhp: properties', () => {
  test('any value serializes and parses back to the same value and bytes', () => {
    fc.assert(
      fc.property(phpValueArb, (value) => {
        const bytes = serializePhp(value);
        const parsed = parsePhp(bytes);
        assert.deepEqual(parsed, value);
        assert.deepEqual(serializePhp(parsed), bytes);
      }),
      { numRuns: 500 },
    );
  });

  // Whatever the input, the parser either refuses it with its own error or
  // accepts it, and everything it accepts re-serializes to the same bytes.
  function parsesLosslesslyOrRefuses(input: string | Buffer): void {
    let value: PhpValue;
    try {
      value = parsePhp(input);
    } catch (error) {
      assert.ok(error instanceof PhpUnserializeError, `unexpected ${String(error)}`);
      return;
    }
    const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
    assert.deepEqual(serializePhp(value), bytes);
  }

  test('arbitrary strings and bytes', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.stringMatching(/^[NbidsaOCrR:;{}"0-9.\-]*$/)), (s) =>
        parsesLosslesslyOrRefuses(s),
      ),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (u) => parsesLosslesslyOrRefuses(Buffer.from(u))),
      { numRuns: 1000 },
    );
  });

  test('mutations of valid serializations', () => {
    const mutation = fc.oneof(
      fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
      fc.record({ op: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
      fc.record({ op: fc.constant('set' as const), at: fc.nat(), byte: fc.constantFrom(...Buffer.from('0123456789:;{}"NbidsaOCrRE-.+')) }),
      fc.record({ op: fc.constant('insert' as const), at: fc.nat(), text: fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom(...poisons)) }),
      fc.record({ op: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 4 }) }),
    );
    fc.assert(
      fc.property(phpValueArb, fc.array(mutation, { minLength: 1, maxLength: 3 }), (value, mutations) => {
        let bytes = serializePhp(value);
        for (const m of mutations) {
          const at = bytes.length === 0 ? 0 : m.at % (bytes.length + 1);
          switch (m.op) {
            case 'truncate':
              bytes = bytes.subarray(0, at);
              break;
            case 'flip':
            case 'set':
              if (at < bytes.length) {
                bytes = Buffer.from(bytes);
                bytes[at] = m.op === 'flip' ? (bytes[at] ?? 0) ^ m.mask : m.byte;
              }
              break;
            case 'insert':
              bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(m.text, 'utf8'), bytes.subarray(at)]);
              break;
            case 'delete':
              bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + m.count)]);
              break;
          }
        }
        parsesLosslesslyOrRefuses(bytes);
        parsesLosslesslyOrRefuses(bytes.toString('utf8'));
      }),
      { numRuns: 2000 },
    );
  });
});
