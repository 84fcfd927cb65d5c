import { randomUUID } from 'node:crypto';

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

/** A fresh random (v4) UUID, lower-case hyphenated, as `define`/`start` generate when none is given. */
export function newUuid(): string {
  return randomUUID();
}

/** Orders strings by their UTF-8 bytes, as Rust's `String`/`Uuid` ordering does (BTreeMap keys, sorts). */
export function byteCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
