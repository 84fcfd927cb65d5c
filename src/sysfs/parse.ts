/**
 * Pure parsers for what userspace writes into sysfs attributes, each a copy of the kernel helper it is named after,
 * so a write is accepted or refused exactly as a kernel would. They never touch core state.
 */
import { err } from '../errors.js';
import type { Uuid } from '../core/index.js';

/** The length of a hyphenated UUID string (`UUID_STRING_LEN`). */
export const UUID_STRING_LEN = 36;

const HEX = /^[0-9a-fA-F]$/;

/**
 * `guid_parse`: 36 characters, hex digits of any case with hyphens at 8, 13, 18 and 23; `undefined` otherwise.
 * Returns the lower-case form, which is how the kernel names the device (`%pUl`).
 */
export function parseUuid(s: string): Uuid | undefined {
  if (s.length !== UUID_STRING_LEN) return undefined;
  for (let i = 0; i < UUID_STRING_LEN; i++) {
    const c = s[i] as string;
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== '-') return undefined;
    } else if (!HEX.test(c)) {
      return undefined;
    }
  }
  return s.toLowerCase();
}

/** The result of `kstrtoul`-family parsing: a value, or the errno the kernel helper returns. */
export type ParsedUnsigned = { readonly value: bigint } | { readonly errno: 'EINVAL' | 'ERANGE' };

/**
 * `kstrtoull(s, 0)`: an optional `+`, then `0x`/`0X` hex (only when a hex digit follows), a leading `0` for octal, or
 * decimal; at least one digit; then nothing but one optional trailing `\n`. Values above `max` are `ERANGE`.
 */
export function kstrtoul(s: string, max: bigint = 0xffff_ffff_ffff_ffffn): ParsedUnsigned {
  let i = s.startsWith('+') ? 1 : 0;
  let base = 10;
  if (s[i] === '0' && (s[i + 1] === 'x' || s[i + 1] === 'X') && HEX.test(s[i + 2] ?? '')) {
    base = 16;
    i += 2;
  } else if (s[i] === '0') {
    base = 8;
  }
  let value = 0n;
  let digits = 0;
  for (; i < s.length; i++) {
    const d = parseInt(s[i] as string, 16);
    if (Number.isNaN(d) || d >= base) break;
    value = value * BigInt(base) + BigInt(d);
    digits++;
  }
  const rest = s.slice(i);
  if (digits === 0 || (rest !== '' && rest !== '\n')) return { errno: 'EINVAL' };
  if (value > max) return { errno: 'ERANGE' };
  return { value };
}

/**
 * `kstrtobool`: only the first character counts (`y Y t T 1` true, `n N f F 0` false), and after `o`/`O` the second
 * (`on` true, `off` false). Anything else, the empty string included, is `undefined` (the caller answers EINVAL).
 */
export function kstrtobool(s: string): boolean | undefined {
  switch (s[0]) {
    case 'y':
    case 'Y':
    case 't':
    case 'T':
    case '1':
      return true;
    case 'n':
    case 'N':
    case 'f':
    case 'F':
    case '0':
      return false;
    case 'o':
    case 'O':
      if (s[1] === 'n' || s[1] === 'N') return true;
      if (s[1] === 'f' || s[1] === 'F') return false;
      return undefined;
    default:
      return undefined;
  }
}

/**
 * What mainline `create_store` accepts: 36 or 37 bytes, of which the first 36 are a UUID (the 37th, usually `\n`, is
 * not looked at). Throws `EINVAL` otherwise. Byte counts are taken on the raw buffer, as the kernel does.
 */
export function parseCreate(data: Buffer): Uuid {
  if (data.length < UUID_STRING_LEN || data.length > UUID_STRING_LEN + 1) {
    throw err('EINVAL', `create: ${data.length} bytes written, a UUID is ${UUID_STRING_LEN} (or ${UUID_STRING_LEN + 1} with a newline)`);
  }
  const uuid = parseUuid(data.subarray(0, UUID_STRING_LEN).toString('latin1'));
  if (uuid === undefined) throw err('EINVAL', 'create: not a UUID');
  return uuid;
}

/** `remove_store`: `kstrtoul(buf, 0)`; every parse failure (overflow included) is `EINVAL`. True means "remove". */
export function parseRemove(data: Buffer): boolean {
  const r = kstrtoul(data.toString('latin1'));
  if ('errno' in r) throw err('EINVAL', 'remove: not an unsigned number');
  return r.value !== 0n;
}

/** A boolean attribute write (`online`): `kstrtobool`, else `EINVAL`. */
export function parseBool(name: string, data: Buffer): boolean {
  const v = kstrtobool(data.toString('latin1'));
  if (v === undefined) throw err('EINVAL', `${name}: expected 0/1, y/n, on/off`);
  return v;
}

/** `reset` as PCI's `reset_store`: `kstrtoul(buf, 0)` must give exactly 1, else `EINVAL`. */
export function parseReset(data: Buffer): void {
  const r = kstrtoul(data.toString('latin1'));
  if ('errno' in r || r.value !== 1n) throw err('EINVAL', 'reset: write 1 to reset the device');
}

/** The actions `kobject_synth_uevent` knows; a write of one of them (optionally followed by arguments) is accepted. */
const UEVENT_ACTIONS = new Set(['add', 'remove', 'change', 'move', 'online', 'offline', 'bind', 'unbind']);

/** `uevent` store: a known action word, else `EINVAL`. Synthetic uevents are accepted and change nothing. */
export function parseUevent(data: Buffer): void {
  const action = data.toString('latin1').replace(/\n$/, '').split(' ')[0] ?? '';
  if (!UEVENT_ACTIONS.has(action)) throw err('EINVAL', `uevent: unknown action "${action}"`);
}

/**
 * A device name written to `bind`, `unbind` or `drivers_probe`, compared as `sysfs_streq` does: one trailing `\n` is
 * ignored, nothing else. An empty name finds no device (the caller answers `ENODEV`, as `bus_find_device_by_name`).
 */
export function parseDeviceName(data: Buffer): string {
  return data.toString('latin1').replace(/\n$/, '');
}
