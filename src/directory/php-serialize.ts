// A lossless reader and writer for the subset of PHP's serialize() format that
// plain data uses (null, bool, int, float, string, array).
//
// Why not a general unserializer: the devices usermeta value is written by
// WordPress and read back here, so anything that could instantiate objects or
// alias values (O:, C:, E:, r:, R:) is refused outright rather than modelled.
// Why lossless: the directory rewrites one `status` entry and must hand every
// other byte back exactly as PHP wrote it, so ints and floats keep their text
// and strings keep their raw bytes (PHP's s:N: counts bytes, not characters).

/** A parsed PHP value; ints and floats keep their written text so they round-trip byte for byte. */
export type PhpValue =
  | { kind: 'null' }
  | { kind: 'bool'; value: boolean }
  | { kind: 'int'; text: string }
  | { kind: 'float'; text: string }
  | { kind: 'string'; bytes: Buffer }
  | { kind: 'array'; entries: PhpEntry[] };

/** A PHP array key: only ints and strings can be keys. */
export type PhpKey = { kind: 'int'; text: string } | { kind: 'string'; bytes: Buffer };

/** One key => value pair of a PHP array, in serialized order. */
export interface PhpEntry {
  key: PhpKey;
  value: PhpValue;
}

/** Deepest array nesting accepted (PHP's own default is 4096; device lists need 2 or 3). */
export const PHP_MAX_DEPTH = 64;

/** Why a serialized value was refused. */
export type PhpUnserializeReason =
  | 'invalid-unicode'
  | 'truncated'
  | 'syntax'
  | 'object'
  | 'custom-object'
  | 'enum'
  | 'reference'
  | 'unsupported-type'
  | 'bad-number'
  | 'int-out-of-range'
  | 'non-canonical-length'
  | 'wrong-string-length'
  | 'count-too-large'
  | 'count-mismatch'
  | 'bad-key'
  | 'duplicate-key'
  | 'too-deep'
  | 'trailing-bytes';

/** The only error parsePhp throws: the input is not plain serialized PHP data it accepts. */
export class PhpUnserializeError extends Error {
  override readonly name = 'PhpUnserializeError';

  constructor(
    readonly reason: PhpUnserializeReason,
    readonly offset: number,
  ) {
    super(`${reason} at byte ${offset}`);
  }
}

/** Thrown by serializePhp when handed a value that parsePhp would not accept back. */
export class PhpSerializeError extends Error {
  override readonly name = 'PhpSerializeError';
}

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;
// Enough digits for any int64; longer lengths/counts cannot fit in any real input either.
const MAX_INT_DIGITS = 19;
const MAX_LENGTH_DIGITS = 15;
// The smallest entry is `i:0;N;`: bounds a count by what the rest of the input could hold.
const MIN_ENTRY_BYTES = 6;

// PHP's unserializer accepts these float spellings (var_unserializer.re: iv | nv | nvexp, NAN, -?INF).
const FLOAT_TEXT = /^(?:[+-]?(?:[0-9]+|[0-9]*\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][+-]?[0-9]+)?|NAN|-?INF)$/;
const INT_TEXT = /^[+-]?[0-9]+$/;
// PHP turns a string key into an int key only in this exact spelling (zend_handle_numeric_str).
const CANONICAL_INT_TEXT = /^(?:0|-?[1-9][0-9]*)$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const CH = {
  quote: 0x22,
  colon: 0x3a,
  semicolon: 0x3b,
  braceOpen: 0x7b,
  braceClose: 0x7d,
  zero: 0x30,
  nine: 0x39,
} as const;

/** The canonical decimal of an int's written text (`+05` → `5`), or null when not an int64. */
export function canonicalIntText(text: string): string | null {
  if (!INT_TEXT.test(text)) return null;
  const negative = text.startsWith('-');
  const digits = text.replace(/^[+-]/, '').replace(/^0+(?=[0-9])/, '');
  // BigInt on a huge digit string is slow; anything this long is out of range anyway.
  if (digits.length > MAX_INT_DIGITS) return null;
  const value = BigInt(negative ? `-${digits}` : digits);
  if (value > INT64_MAX || value < INT64_MIN) return null;
  return value.toString();
}

/** PHP's array-key normalization of a string: an int key if it is a canonical int64 decimal, else a string key. */
export function phpKeyFromString(text: string): PhpKey {
  if (CANONICAL_INT_TEXT.test(text) && canonicalIntText(text) === text) return { kind: 'int', text };
  return { kind: 'string', bytes: Buffer.from(text, 'utf8') };
}

/** Equal for two keys exactly when PHP treats them as one array slot (`i:5;` = `s:1:"5";` ≠ `s:2:"05";`). */
export function phpKeyIdentity(key: PhpKey): string {
  if (key.kind === 'int') return `i${canonicalIntText(key.text) ?? key.text}`;
  const text = key.bytes.toString('latin1');
  if (CANONICAL_INT_TEXT.test(text) && canonicalIntText(text) === text) return `i${text}`;
  return `s${text}`;
}

/** A PHP string value holding the UTF-8 bytes of text. */
export function phpString(text: string): PhpValue {
  return { kind: 'string', bytes: Buffer.from(text, 'utf8') };
}

/** A PHP string key holding the UTF-8 bytes of text (no int normalization; see phpKeyFromString). */
export function phpStringKey(text: string): PhpKey {
  return { kind: 'string', bytes: Buffer.from(text, 'utf8') };
}

/** Parses one serialized PHP value (a string is taken as its UTF-8 bytes); throws only PhpUnserializeError. */
export function parsePhp(input: string | Uint8Array): PhpValue {
  let buf: Buffer;
  if (typeof input === 'string') {
    // A lone surrogate would become U+FFFD in UTF-8, so writing it back would change the data.
    if (LONE_SURROGATE.test(input)) throw new PhpUnserializeError('invalid-unicode', 0);
    buf = Buffer.from(input, 'utf8');
  } else {
    buf = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  }
  const reader = new Reader(buf);
  const value = reader.value(0);
  if (reader.pos !== buf.length) throw new PhpUnserializeError('trailing-bytes', reader.pos);
  return value;
}

class Reader {
  pos = 0;

  constructor(private readonly buf: Buffer) {}

  value(depth: number): PhpValue {
    const start = this.pos;
    const type = this.byte();
    switch (type) {
      case 0x4e: // N
        this.expect(CH.semicolon);
        return { kind: 'null' };
      case 0x62: {
        // b
        this.expect(CH.colon);
        const digit = this.byte();
        if (digit !== CH.zero && digit !== CH.zero + 1) throw new PhpUnserializeError('syntax', this.pos - 1);
        this.expect(CH.semicolon);
        return { kind: 'bool', value: digit === CH.zero + 1 };
      }
      case 0x69: {
        // i
        this.expect(CH.colon);
        const at = this.pos;
        const text = this.textUntilSemicolon();
        if (!INT_TEXT.test(text)) throw new PhpUnserializeError('bad-number', at);
        if (canonicalIntText(text) === null) throw new PhpUnserializeError('int-out-of-range', at);
        return { kind: 'int', text };
      }
      case 0x64: {
        // d
        this.expect(CH.colon);
        const at = this.pos;
        const text = this.textUntilSemicolon();
        if (!FLOAT_TEXT.test(text)) throw new PhpUnserializeError('bad-number', at);
        return { kind: 'float', text };
      }
      case 0x73: // s
        return { kind: 'string', bytes: this.stringBody() };
      case 0x61: // a
        return this.arrayBody(depth + 1);
      case 0x4f: // O
        throw new PhpUnserializeError('object', start);
      case 0x43: // C
        throw new PhpUnserializeError('custom-object', start);
      case 0x45: // E
        throw new PhpUnserializeError('enum', start);
      case 0x72: // r
      case 0x52: // R
        throw new PhpUnserializeError('reference', start);
      default:
        throw new PhpUnserializeError('unsupported-type', start);
    }
  }

  private key(): PhpKey {
    const start = this.pos;
    const type = this.peek();
    if (type === 0x69) {
      const value = this.value(0);
      if (value.kind !== 'int') throw new PhpUnserializeError('bad-key', start);
      return value;
    }
    if (type === 0x73) {
      this.pos++;
      return { kind: 'string', bytes: this.stringBody() };
    }
    if (type === CH.braceClose) throw new PhpUnserializeError('count-mismatch', start);
    throw new PhpUnserializeError('bad-key', start);
  }

  private stringBody(): Buffer {
    this.expect(CH.colon);
    const length = this.length();
    this.expect(CH.colon);
    this.expect(CH.quote);
    const start = this.pos;
    // Checked before slicing so a lying length never reads past the input.
    const end = start + length;
    if (length > this.buf.length - start || this.buf[end] !== CH.quote || this.buf[end + 1] !== CH.semicolon) {
      // Only a hint for the log: input that never closes a string was cut short, otherwise the length lies.
      const closed = this.buf.indexOf('";', start, 'latin1') >= 0;
      throw new PhpUnserializeError(closed ? 'wrong-string-length' : 'truncated', start);
    }
    this.pos = end + 2;
    // A copy, so edits to the parsed value can never write into the caller's buffer.
    return Buffer.from(this.buf.subarray(start, end));
  }

  private arrayBody(depth: number): PhpValue {
    const start = this.pos - 1;
    if (depth > PHP_MAX_DEPTH) throw new PhpUnserializeError('too-deep', start);
    this.expect(CH.colon);
    const count = this.length();
    this.expect(CH.colon);
    this.expect(CH.braceOpen);
    if (count > (this.buf.length - this.pos) / MIN_ENTRY_BYTES) {
      throw new PhpUnserializeError('count-too-large', start);
    }
    const entries: PhpEntry[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < count; i++) {
      const keyAt = this.pos;
      const key = this.key();
      const identity = phpKeyIdentity(key);
      // PHP would let the later value win; refusing keeps our view and PHP's identical.
      if (seen.has(identity)) throw new PhpUnserializeError('duplicate-key', keyAt);
      seen.add(identity);
      entries.push({ key, value: this.value(depth) });
    }
    if (this.pos >= this.buf.length) throw new PhpUnserializeError('truncated', this.pos);
    if (this.buf[this.pos] !== CH.braceClose) throw new PhpUnserializeError('count-mismatch', this.pos);
    this.pos++;
    return { kind: 'array', entries };
  }

  // A string length or array count: digits only, and in PHP's own spelling so it re-serializes identically.
  private length(): number {
    const start = this.pos;
    while (this.pos < this.buf.length) {
      const c = this.buf[this.pos];
      if (c === undefined || c < CH.zero || c > CH.nine) break;
      this.pos++;
    }
    if (this.pos === this.buf.length) throw new PhpUnserializeError('truncated', this.pos);
    const digits = this.pos - start;
    if (digits === 0) throw new PhpUnserializeError('bad-number', start);
    if (digits > 1 && this.buf[start] === CH.zero) throw new PhpUnserializeError('non-canonical-length', start);
    if (digits > MAX_LENGTH_DIGITS) throw new PhpUnserializeError('count-too-large', start);
    return Number(this.buf.toString('latin1', start, this.pos));
  }

  private textUntilSemicolon(): string {
    const start = this.pos;
    const end = this.buf.indexOf(CH.semicolon, start);
    if (end < 0) throw new PhpUnserializeError('truncated', this.buf.length);
    this.pos = end + 1;
    return this.buf.toString('latin1', start, end);
  }

  private peek(): number {
    const c = this.buf[this.pos];
    if (c === undefined) throw new PhpUnserializeError('truncated', this.pos);
    return c;
  }

  private byte(): number {
    const c = this.peek();
    this.pos++;
    return c;
  }

  private expect(c: number): void {
    if (this.byte() !== c) throw new PhpUnserializeError('syntax', this.pos - 1);
  }
}

/** Writes a value as PHP's serialize() does, as bytes; throws PhpSerializeError for what parsePhp would refuse. */
export function serializePhp(value: PhpValue): Buffer {
  // Refusing bad number text, duplicate keys and over-deep nesting here means all output reads back.
  const parts: Buffer[] = [];
  write(value, 0, parts);
  return Buffer.concat(parts);
}

function write(value: PhpValue, depth: number, out: Buffer[]): void {
  switch (value.kind) {
    case 'null':
      out.push(Buffer.from('N;', 'latin1'));
      return;
    case 'bool':
      out.push(Buffer.from(value.value ? 'b:1;' : 'b:0;', 'latin1'));
      return;
    case 'int':
      checkIntText(value.text);
      out.push(Buffer.from(`i:${value.text};`, 'latin1'));
      return;
    case 'float':
      if (!FLOAT_TEXT.test(value.text)) throw new PhpSerializeError(`not a PHP float: ${JSON.stringify(value.text)}`);
      out.push(Buffer.from(`d:${value.text};`, 'latin1'));
      return;
    case 'string':
      writeString(value.bytes, out);
      return;
    case 'array': {
      if (depth + 1 > PHP_MAX_DEPTH) throw new PhpSerializeError(`arrays nested deeper than ${PHP_MAX_DEPTH}`);
      out.push(Buffer.from(`a:${value.entries.length}:{`, 'latin1'));
      const seen = new Set<string>();
      for (const entry of value.entries) {
        const identity = phpKeyIdentity(entry.key);
        if (seen.has(identity)) throw new PhpSerializeError('duplicate array key');
        seen.add(identity);
        if (entry.key.kind === 'int') {
          checkIntText(entry.key.text);
          out.push(Buffer.from(`i:${entry.key.text};`, 'latin1'));
        } else {
          writeString(entry.key.bytes, out);
        }
        write(entry.value, depth + 1, out);
      }
      out.push(Buffer.from('}', 'latin1'));
      return;
    }
  }
}

function checkIntText(text: string): void {
  if (canonicalIntText(text) === null) throw new PhpSerializeError(`not a PHP int: ${JSON.stringify(text)}`);
}

function writeString(bytes: Buffer, out: Buffer[]): void {
  out.push(Buffer.from(`s:${bytes.length}:"`, 'latin1'), bytes, Buffer.from('";', 'latin1'));
}
