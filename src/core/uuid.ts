/**
 * Concepts: how the core reads a UUID. Parsing copies `create_store` in `mdev_sysfs.c`: the text is 36 bytes, or 37
 * when `echo` added a newline; only the first 36 are parsed (as `guid_parse` does, so the 37th byte is not checked),
 * any case is accepted and the UUID is stored lower-case, as the kernel prints it with `%pUl`.
 */
import { err } from './errors.js';
import type { Uuid } from './types.js';

const UUID_STRING_LEN = 36;
const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const UPPER_RE = /[A-F]/;

/** Parse a UUID as a `create` write would; `EINVAL` for a bad length or a malformed UUID. Returns lower case. */
export function parseUuid(text: string): Uuid {
  if (typeof text !== 'string' || (text.length !== UUID_STRING_LEN && text.length !== UUID_STRING_LEN + 1)) {
    throw err('EINVAL', `bad UUID length: expected 36 or 37 characters`);
  }
  const head = text.length === UUID_STRING_LEN ? text : text.slice(0, UUID_STRING_LEN);
  if (!UUID_RE.test(head)) throw err('EINVAL', `malformed UUID ${JSON.stringify(head)}`);
  return UPPER_RE.test(head) ? head.toLowerCase() : head;
}

/** The lookup key of a UUID given by a caller: lower-cased so that lookups accept any case (no validation). */
export function uuidKey(text: string): string {
  return UPPER_RE.test(text) ? text.toLowerCase() : text;
}
