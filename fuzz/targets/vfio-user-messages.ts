/**
 * Random and mutated vfio-user messages: every command with its real layout filled from interesting values
 * (0, 1, boundaries, page and region sizes, 2^31, 2^63, all ones), unknown commands, wrong sizes, random flags,
 * and random bytes flipped.
 */
import { Command, HEADER_SIZE } from '../../src/vfio-user/constants.js';
import type { Rng } from '../rng.js';

const U32 = [0, 1, 2, 3, 4, 7, 8, 15, 16, 20, 24, 31, 32, 0x100, 0xfff, 0x1000, 0x2000, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];
const U64 = [...U32.map(BigInt), 1n << 53n, 1n << 63n, (1n << 64n) - 1n, (1n << 64n) - 0x1000n];

function u32(rng: Rng): number {
  return rng.chance(0.8) ? rng.pick(U32) : rng.u32();
}

function u64(rng: Rng): bigint {
  return rng.chance(0.8) ? rng.pick(U64) : (BigInt(rng.u32()) << 32n) | BigInt(rng.u32());
}

function small(rng: Rng, n: number): number {
  return rng.chance(0.9) ? rng.int(n) : u32(rng);
}

/** Little-endian fields into one buffer. */
function pack(fields: readonly (['u16', number] | ['u32', number] | ['u64', bigint])[]): Buffer {
  const size = fields.reduce((n, [t]) => n + (t === 'u16' ? 2 : t === 'u32' ? 4 : 8), 0);
  const b = Buffer.alloc(size);
  let at = 0;
  for (const [t, v] of fields) {
    if (t === 'u16') at = b.writeUInt16LE((v as number) & 0xffff, at);
    else if (t === 'u32') at = b.writeUInt32LE((v as number) >>> 0, at);
    else at = b.writeBigUInt64LE(BigInt.asUintN(64, v as bigint), at);
  }
  return b;
}

const JSONS = [
  '{"capabilities":{}}',
  '{"capabilities":{"max_msg_fds":16,"max_data_xfer_size":1048576,"max_dma_maps":65535,"pgsizes":4096,"write_multiple":true}}',
  '{"capabilities":{"max_msg_fds":-1}}',
  '{"capabilities":{"max_data_xfer_size":1e300}}',
  '{"capabilities":[]}',
  '{"capabilities":{"migration":{"pgsize":3}}}',
  '{',
  '',
  'null',
];

function version(rng: Rng): Buffer {
  const json = rng.chance(0.9) ? rng.pick(JSONS) : rng.bytes(rng.int(64)).toString('latin1');
  const head = pack([['u16', rng.chance(0.9) ? 0 : rng.int(3)], ['u16', rng.int(4)]]);
  return Buffer.concat([head, Buffer.from(json, 'latin1'), rng.chance(0.9) ? Buffer.from([0]) : Buffer.alloc(0)]);
}

/** The payload of `cmd` with its real layout and random field values. */
export function body(cmd: number, rng: Rng): Buffer {
  switch (cmd) {
    case Command.VERSION:
      return version(rng);
    case Command.DMA_MAP:
      return pack([['u32', rng.chance(0.8) ? 32 : u32(rng)], ['u32', rng.pick([0, 1, 2, 3, 4, 0xff])], ['u64', u64(rng)], ['u64', u64(rng)], ['u64', u64(rng)]]);
    case Command.DMA_UNMAP:
      return pack([['u32', rng.chance(0.8) ? 24 : u32(rng)], ['u32', rng.pick([0, 1, 2, 4])], ['u64', u64(rng)], ['u64', u64(rng)]]);
    case Command.DEVICE_GET_INFO:
    case Command.DEVICE_GET_IRQ_INFO:
    case Command.DEVICE_GET_REGION_IO_FDS:
      return pack([['u32', rng.chance(0.5) ? 16 : u32(rng)], ['u32', u32(rng)], ['u32', small(rng, 12)], ['u32', u32(rng)]]);
    case Command.DEVICE_GET_REGION_INFO:
      return pack([['u32', rng.pick([32, 0, 16, 64, 256, 0xffffffff])], ['u32', u32(rng)], ['u32', small(rng, 12)], ['u32', 0], ['u64', u64(rng)], ['u64', u64(rng)]]);
    case Command.DEVICE_SET_IRQS: {
      const count = small(rng, 4);
      const head = pack([['u32', rng.chance(0.8) ? 20 : u32(rng)], ['u32', rng.int(64)], ['u32', small(rng, 6)], ['u32', small(rng, 3)], ['u32', count]]);
      return rng.chance(0.3) ? Buffer.concat([head, rng.bytes(Math.min(count, 16))]) : head;
    }
    case Command.REGION_READ:
    case Command.REGION_WRITE: {
      const count = rng.chance(0.8) ? rng.pick([0, 1, 2, 4, 8, 16, 0x100]) : u32(rng);
      const head = pack([['u64', rng.chance(0.7) ? BigInt(rng.int(0x2000)) : u64(rng)], ['u32', small(rng, 10)], ['u32', count]]);
      if (cmd === Command.REGION_READ) return head;
      return Buffer.concat([head, rng.bytes(Math.min(count, rng.chance(0.9) ? count : 0x10000, 0x10000))]);
    }
    case Command.DEVICE_RESET:
      return Buffer.alloc(0);
    case Command.REGION_WRITE_MULTI: {
      const n = small(rng, 4);
      const parts = [pack([['u64', BigInt(n)]])];
      for (let i = 0; i < Math.min(n, 8); i++) parts.push(pack([['u64', BigInt(rng.int(0x2000))], ['u32', small(rng, 10)], ['u32', small(rng, 9)], ['u64', u64(rng)]]));
      return Buffer.concat(parts);
    }
    case Command.DEVICE_FEATURE:
      return Buffer.concat([pack([['u32', rng.chance(0.5) ? 16 : u32(rng)], ['u32', rng.int(9) | (rng.int(8) << 16)]]), rng.bytes(rng.pick([0, 4, 8, 16, 24]))]);
    case Command.MIG_DATA_READ:
      return pack([['u32', rng.chance(0.5) ? 8 : u32(rng)], ['u32', u32(rng)]]);
    case Command.MIG_DATA_WRITE: {
      const size = small(rng, 64);
      return Buffer.concat([pack([['u32', 8 + size], ['u32', size]]), rng.bytes(Math.min(size, 0x10000))]);
    }
    default:
      return rng.bytes(rng.int(64));
  }
}

/** A whole message: header (sometimes lying about its size or type) and body, sometimes with bytes flipped. */
export function message(rng: Rng, negotiated: boolean): Buffer {
  const cmd = !negotiated && rng.chance(0.7) ? Command.VERSION : rng.chance(0.95) ? 1 + rng.int(18) : rng.int(0x10000);
  const b = body(cmd, rng);
  const h = Buffer.alloc(HEADER_SIZE);
  h.writeUInt16LE(rng.int(0x10000), 0);
  h.writeUInt16LE(cmd, 2);
  const size = rng.chance(0.97) ? HEADER_SIZE + b.length : rng.chance(0.5) ? u32(rng) : HEADER_SIZE + rng.int(b.length + 1);
  h.writeUInt32LE(size >>> 0, 4);
  h.writeUInt32LE(rng.chance(0.9) ? rng.pick([0, 0, 0, 0x10]) : u32(rng), 8);
  const m = Buffer.concat([h, b]);
  if (rng.chance(0.05)) for (let i = 0, n = 1 + rng.int(4); i < n; i++) m[HEADER_SIZE + rng.int(Math.max(1, b.length))] ^= 1 << rng.int(8);
  return m;
}
