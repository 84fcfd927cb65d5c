/**
 * Concepts: mdevctl reads definitions and `--jsonfile`s with serde_json and prints serde_json's error text when one
 * is malformed (`EOF while parsing a list at line 1 column 60`). `JSON.parse` accepts and rejects the same texts but
 * words its errors differently, so this is a small recursive-descent parser that fails where serde_json fails, with
 * serde_json's messages and its line/column rules: lines count from 1, columns count bytes from 0 at a line start;
 * an error at a looked-at byte reports the column just after it, an error after consuming a byte reports the
 * column after that byte, and an error at end of input reports the column of the end.
 */
import { UmdevError } from '../errors.js';

/** A parsed JSON value. Objects have a null prototype, so a `__proto__` key is only a key. */
export type Json = null | boolean | number | string | Json[] | JsonObject;
/** A parsed JSON object. */
export interface JsonObject {
  [key: string]: Json;
}

const RECURSION_LIMIT = 128;

/** Parses `text` as serde_json's `from_str` does; throws `UmdevError('EINVAL', '<serde message>')`. */
export function parseJson(text: string): Json {
  const p = new Parser(Buffer.from(text, 'utf8'));
  const v = p.value();
  if (p.ws() !== undefined) throw p.peekError('trailing characters');
  return v;
}

/** True when `v` is a JSON object (not an array, not null). */
export function isJsonObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

class Parser {
  readonly #b: Buffer;
  #i = 0;
  #depth = 0;

  constructor(b: Buffer) {
    this.#b = b;
  }

  /** Skips JSON whitespace; returns the next byte without consuming it. */
  ws(): number | undefined {
    const b = this.#b;
    while (this.#i < b.length && (b[this.#i] === 0x20 || b[this.#i] === 0x0a || b[this.#i] === 0x09 || b[this.#i] === 0x0d)) this.#i++;
    return this.#i < b.length ? b[this.#i] : undefined;
  }

  /** An error about the byte at the cursor (not consumed). */
  peekError(msg: string): UmdevError {
    return this.#errorAt(msg, Math.min(this.#i + 1, this.#b.length));
  }

  /** An error at the cursor, i.e. just after the last consumed byte. */
  #error(msg: string): UmdevError {
    return this.#errorAt(msg, this.#i);
  }

  #errorAt(msg: string, index: number): UmdevError {
    let line = 1;
    let column = 0;
    for (let k = 0; k < index; k++) {
      if (this.#b[k] === 0x0a) {
        line++;
        column = 0;
      } else column++;
    }
    return new UmdevError('EINVAL', `${msg} at line ${line} column ${column}`);
  }

  value(): Json {
    const c = this.ws();
    if (c === undefined) throw this.peekError('EOF while parsing a value');
    switch (c) {
      case 0x6e: // n
        this.#i++;
        this.#ident('ull');
        return null;
      case 0x74: // t
        this.#i++;
        this.#ident('rue');
        return true;
      case 0x66: // f
        this.#i++;
        this.#ident('alse');
        return false;
      case 0x22: // "
        this.#i++;
        return this.#string();
      case 0x5b: // [
        return this.#nested(() => this.#array());
      case 0x7b: // {
        return this.#nested(() => this.#object());
      default:
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.#number();
        throw this.peekError('expected value');
    }
  }

  #nested(f: () => Json): Json {
    if (++this.#depth >= RECURSION_LIMIT) throw this.peekError('recursion limit exceeded');
    this.#i++;
    const v = f();
    this.#depth--;
    return v;
  }

  #ident(rest: string): void {
    for (const ch of rest) {
      if (this.#i >= this.#b.length) throw this.#error('EOF while parsing a value');
      const got = this.#b[this.#i++];
      if (got !== ch.charCodeAt(0)) throw this.#error('expected ident');
    }
  }

  #array(): Json[] {
    const out: Json[] = [];
    let first = true;
    for (;;) {
      let c = this.ws();
      if (c === 0x5d) break;
      if (c === 0x2c && !first) {
        this.#i++;
        c = this.ws();
      } else if (c !== undefined) {
        if (!first) throw this.peekError('expected `,` or `]`');
        first = false;
      } else throw this.peekError('EOF while parsing a list');
      if (c === 0x5d) throw this.peekError('trailing comma');
      if (c === undefined) throw this.peekError('EOF while parsing a value');
      out.push(this.value());
    }
    this.#i++;
    return out;
  }

  #object(): JsonObject {
    const out: JsonObject = Object.create(null) as JsonObject;
    let first = true;
    for (;;) {
      let c = this.ws();
      if (c === 0x7d) break;
      if (c === 0x2c && !first) {
        this.#i++;
        c = this.ws();
      } else if (c !== undefined) {
        if (!first) throw this.peekError('expected `,` or `}`');
        first = false;
      } else throw this.peekError('EOF while parsing an object');
      if (c === 0x7d) throw this.peekError('trailing comma');
      if (c === undefined) throw this.peekError('EOF while parsing a value');
      if (c !== 0x22) throw this.peekError('key must be a string');
      this.#i++;
      const key = this.#string();
      const colon = this.ws();
      if (colon === undefined) throw this.peekError('EOF while parsing an object');
      if (colon !== 0x3a) throw this.peekError('expected `:`');
      this.#i++;
      out[key] = this.value();
    }
    this.#i++;
    return out;
  }

  #string(): string {
    const b = this.#b;
    let s = '';
    let start = this.#i;
    for (;;) {
      while (this.#i < b.length && b[this.#i] !== 0x22 && b[this.#i] !== 0x5c && b[this.#i] >= 0x20) this.#i++;
      if (this.#i >= b.length) throw this.#error('EOF while parsing a string');
      const c = b[this.#i];
      if (c === 0x22) {
        s += b.toString('utf8', start, this.#i);
        this.#i++;
        return s;
      }
      if (c < 0x20) {
        this.#i++;
        throw this.#error('control character (\\u0000-\\u001F) found while parsing a string');
      }
      s += b.toString('utf8', start, this.#i);
      this.#i++;
      s += this.#escape();
      start = this.#i;
    }
  }

  #escape(): string {
    const b = this.#b;
    if (this.#i >= b.length) throw this.#error('EOF while parsing a string');
    const c = b[this.#i++];
    switch (c) {
      case 0x22: return '"';
      case 0x5c: return '\\';
      case 0x2f: return '/';
      case 0x62: return '\b';
      case 0x66: return '\f';
      case 0x6e: return '\n';
      case 0x72: return '\r';
      case 0x74: return '\t';
      case 0x75: {
        const hi = this.#hex4();
        if (hi >= 0xdc00 && hi <= 0xdfff) throw this.#error('lone leading surrogate in hex escape');
        if (hi < 0xd800 || hi > 0xdbff) return String.fromCharCode(hi);
        if (this.#i + 2 > b.length) {
          this.#i = b.length;
          throw this.#error('EOF while parsing a string');
        }
        if (b[this.#i] !== 0x5c || b[this.#i + 1] !== 0x75) {
          this.#i += 2;
          throw this.#error('unexpected end of hex escape');
        }
        this.#i += 2;
        const lo = this.#hex4();
        if (lo < 0xdc00 || lo > 0xdfff) throw this.#error('lone leading surrogate in hex escape');
        return String.fromCharCode(hi, lo);
      }
      default:
        throw this.#error('invalid escape');
    }
  }

  #hex4(): number {
    const b = this.#b;
    if (this.#i + 4 > b.length) {
      this.#i = b.length;
      throw this.#error('EOF while parsing a string');
    }
    let n = 0;
    for (let k = 0; k < 4; k++) {
      const d = hexVal(b[this.#i++]);
      if (d < 0) throw this.#error('invalid escape');
      n = n * 16 + d;
    }
    return n;
  }

  #number(): number {
    const b = this.#b;
    const start = this.#i;
    const digit = (x: number | undefined): boolean => x !== undefined && x >= 0x30 && x <= 0x39;
    if (b[this.#i] === 0x2d) this.#i++;
    if (this.#i >= b.length) throw this.#error('EOF while parsing a value');
    const first = b[this.#i++];
    if (first === 0x30) {
      if (digit(b[this.#i])) throw this.peekError('invalid number');
    } else if (digit(first)) {
      while (digit(b[this.#i])) this.#i++;
    } else throw this.#error('invalid number');
    if (b[this.#i] === 0x2e) {
      this.#i++;
      if (!digit(b[this.#i])) throw this.peekError(this.#i < b.length ? 'invalid number' : 'EOF while parsing a value');
      while (digit(b[this.#i])) this.#i++;
    }
    if (b[this.#i] === 0x65 || b[this.#i] === 0x45) {
      this.#i++;
      if (b[this.#i] === 0x2b || b[this.#i] === 0x2d) this.#i++;
      if (this.#i >= b.length) throw this.#error('EOF while parsing a value');
      if (!digit(b[this.#i++])) throw this.#error('invalid number');
      while (digit(b[this.#i])) this.#i++;
    }
    const n = Number(b.toString('latin1', start, this.#i));
    if (!Number.isFinite(n)) throw this.#error('number out of range');
    return n;
  }
}

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** A value to print: like `Json`, but a `Map` is an object whose keys keep their insertion order exactly. */
export type JsonOut = null | boolean | number | string | readonly JsonOut[] | ReadonlyMap<string, JsonOut>;

/**
 * serde_json's `to_string_pretty` (2-space indent, `": "`, `[]`/`{}` when empty, no trailing newline). Objects are
 * `Map`s because a plain object would move integer-like keys (a parent named `0`) to the front.
 */
export function prettyJson(v: JsonOut, indent = ''): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  const inner = `${indent}  `;
  if (v instanceof Map) {
    if (v.size === 0) return '{}';
    const parts = [...v].map(([k, x]) => `${inner}${JSON.stringify(k)}: ${prettyJson(x, inner)}`);
    return `{\n${parts.join(',\n')}\n${indent}}`;
  }
  const arr = v as readonly JsonOut[];
  if (arr.length === 0) return '[]';
  return `[\n${arr.map((x) => `${inner}${prettyJson(x, inner)}`).join(',\n')}\n${indent}]`;
}

/** serde_json's compact `to_string`, with the same key-order rule as `prettyJson`. */
export function compactJson(v: JsonOut): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (v instanceof Map) return `{${[...v].map(([k, x]) => `${JSON.stringify(k)}:${compactJson(x)}`).join(',')}}`;
  return `[${(v as readonly JsonOut[]).map(compactJson).join(',')}]`;
}
