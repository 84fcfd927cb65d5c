/**
 * What the sysfs fuzz target writes: the values a sysfs attribute parses (`1`/`0`, UUIDs whole, partial, cased,
 * padded or mutated, driver names, numbers, power words), whitespace, NUL, empty, huge, and random bytes.
 */
import type { Rng } from '../rng.js';

const WORDS = [
  '', '\0', '1', '0', '1\n', '0\n', ' 1', '1 ', '\n', ' ', '\t\n', 'y', 'n', 'on', 'off', 'auto', 'true', '-1', '2',
  '4294967296', '99999999999999999999', '0x1', 'mtty', 'mtty\n', 'vfio_mdev', 'vfio-user', 'mtty-1', 'mtty-2',
  'nonexistent', '1\0', '1\n\n', '0\0garbage',
];

/** A UUID in the form `create` and `bind` take, from a small pool so creates, binds and removes meet each other. */
export function uuid(rng: Rng): string {
  return `0f${rng.int(16).toString(16)}00000-0000-4000-8000-${(rng.int(64) + 1).toString(16).padStart(12, '0')}`;
}

/** A version-4 UUID from anywhere in the space (seeded, unlike `randomUUID`). */
function anyUuid(rng: Rng): string {
  const h = rng.bytes(16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20)}`;
}

/** A payload for one write. `known` are the UUIDs of devices that exist now. */
export function payload(rng: Rng, known: readonly string[]): Buffer {
  const u = known.length > 0 && rng.chance(0.5) ? rng.pick(known) : rng.chance(0.1) ? anyUuid(rng) : uuid(rng);
  switch (rng.int(12)) {
    case 0:
    case 1:
      return Buffer.from(rng.pick(WORDS));
    case 2:
      return Buffer.from(rng.pick([u, `${u}\n`, u.toUpperCase(), ` ${u}`, `${u} `, `${u}\n\n`, `${u}\0`]));
    case 3:
      return Buffer.from(u.slice(0, rng.int(u.length)));
    case 4:
      return rng.mutate(Buffer.from(u));
    case 5:
      return Buffer.from(`${u},${rng.pick(['', 'x', u, 'a=b'])}`);
    case 6:
      return Buffer.alloc(rng.pick([4096, 4097, 65536, 1 << 20]), rng.pick(['1', '0', ' ', '\0', 'a']));
    case 7:
      return Buffer.alloc(rng.int(8), 0);
    case 8:
      return Buffer.from(' \t\n\r\v\f'.repeat(1 + rng.int(4)).slice(0, 1 + rng.int(24)));
    case 9:
      return rng.mutate(Buffer.from(rng.pick(WORDS)));
    default:
      return rng.bytes(rng.int(rng.chance(0.9) ? 64 : 8192));
  }
}

/** A name to look up: real-looking, long, junk; never NUL or `/` (a path cannot carry them in one component). */
export function junkName(rng: Rng): string {
  switch (rng.int(6)) {
    case 0:
      return 'x'.repeat(rng.pick([255, 256, 1024, 4096]));
    case 1:
      return rng.pick(['.', '..', '...', ' ', '\n', '-', 'create ', 'CREATE', 'remove\n', 'power', 'uevent', 'devices']);
    case 2:
      return uuid(rng);
    default: {
      const b = rng.bytes(1 + rng.int(40));
      for (let i = 0; i < b.length; i++) if (b[i] === 0 || b[i] === 0x2f) b[i] = 0x5f;
      return b.toString('latin1');
    }
  }
}
