/**
 * Concepts: how the core reads a UUID. Parsing copies `create_store` in `mdev_sysfs.c`: the text is 36 bytes, or 37
 * when `echo` added a newline; only the first 36 are parsed (as `guid_parse` does, so the 37th byte is not checked),
 * any case is accepted and the UUID is stored lower-case, as the kernel prints it with `%pUl`.
 */
import { err } from '../errors.js';
import type { Uuid } from './types.js';

const UUID_STRING_LEN = 36;
const UPPER_RE = /[A-F]/;

/** Parse a UUID as a `create` write would; `EINVAL` for a bad length or a malformed UUID. Returns lower case. */
export function parseUuid(text: string): Uuid {
  if (typeof text !== 'string' || (text.length !== UUID_STRING_LEN && text.length !== UUID_STRING_LEN + 1)) {
    throw err('EINVAL', `bad UUID length: expected 36 or 37 characters`);
  }
  // A char-code scan instead of a regular expression: this runs on every create.
  let upper = false;
  for (let i = 0; i < UUID_STRING_LEN; i++) {
    const c = text.charCodeAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 0x2d) throw malformed(text);
    } else if (c >= 0x41 && c <= 0x46) {
      upper = true;
    } else if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) {
      throw malformed(text);
    }
  }
  const head = text.length === UUID_STRING_LEN ? text : text.slice(0, UUID_STRING_LEN);
  return upper ? head.toLowerCase() : head;
}

function malformed(text: string): Error {
  return err('EINVAL', `malformed UUID ${JSON.stringify(text.slice(0, UUID_STRING_LEN))}`);
}

/** The lookup key of a UUID given by a caller: lower-cased so that lookups accept any case (no validation). */
export function uuidKey(text: string): string {
  return UPPER_RE.test(text) ? text.toLowerCase() : text;
}
