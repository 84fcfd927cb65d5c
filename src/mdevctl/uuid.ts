const HEX32 = /^[0-9a-fA-F]{32}$/;

/**
 * Parses a UUID the way mdevctl's uuid crate does (hyphenated in any case, 32 hex digits, a `urn:uuid:` prefix or
 * braces) and returns the canonical lower-case hyphenated form, or `undefined`.
 */
export function parseUuid(s: string): string | undefined {
  let t = s;
  if (t.toLowerCase().startsWith('urn:uuid:')) t = t.slice(9);
  else if (t.startsWith('{') && t.endsWith('}')) t = t.slice(1, -1);
  let hex: string;
  if (t.length === 36) {
    if (t[8] !== '-' || t[13] !== '-' || t[18] !== '-' || t[23] !== '-') return undefined;
    hex = t.slice(0, 8) + t.slice(9, 13) + t.slice(14, 18) + t.slice(19, 23) + t.slice(24);
  } else hex = t;
  if (!HEX32.test(hex)) return undefined;
  const h = hex.toLowerCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * A fresh random (v4) UUID, lower-case hyphenated, as `define`/`start` generate when none is given. Web Crypto's
 * global loads crypto only when called: every umdevctl command imports this module, and few need a new UUID.
 */
export function newUuid(): string {
  return globalThis.crypto.randomUUID();
}

/** Orders strings by their UTF-8 bytes, as Rust's `String`/`Uuid` ordering does (BTreeMap keys, sorts). */
export function byteCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

const GROUP_STARTS = [0, 9, 14, 19, 24];
const GROUP_LENGTHS = [8, 4, 4, 4, 12];

/**
 * Why `s` is not a UUID, in the words of the uuid crate mdevctl 1.2.0 parses `--uuid` with (`InvalidUuid::into_err`),
 * so clap's `Invalid value "…" for '--uuid <UUID>': …` line reads the same from both tools. Positions are 1-based
 * byte offsets, as the crate counts.
 */
export function uuidError(s: string): string {
  let body = s;
  let offset = 0;
  let simple = true;
  if (s.length >= 2 && s.startsWith('{') && s.endsWith('}')) {
    body = s.slice(1, -1);
    offset = 1;
    simple = false;
  } else if (s.startsWith('urn:uuid:')) {
    body = s.slice(9);
    offset = 9;
    simple = false;
  }
  const hyphens: number[] = [];
  let byte = 0;
  for (const ch of body) {
    if (ch === '-') hyphens.push(byte);
    else if (!/^[0-9a-fA-F]$/.test(ch)) {
      return `invalid character: expected an optional prefix of \`urn:uuid:\` followed by [0-9a-zA-Z], found \`${ch}\` at ${byte + offset + 1}`;
    }
    byte += Buffer.byteLength(ch);
  }
  if (hyphens.length === 0 && simple) return `invalid length: expected length 32 for simple format, found ${Buffer.byteLength(s)}`;
  if (hyphens.length !== 4) return `invalid group count: expected 5, found ${hyphens.length + 1}`;
  for (let i = 0; i < 4; i++) {
    if (hyphens[i] !== GROUP_STARTS[i + 1]! - 1) return `invalid group length in group ${i}: expected ${GROUP_LENGTHS[i]}, found ${hyphens[i]! - GROUP_STARTS[i]!}`;
  }
  // The crate measures the last group against the whole input, prefix included.
  return `invalid group length in group 4: expected 12, found ${Buffer.byteLength(s) - GROUP_STARTS[4]!}`;
}
