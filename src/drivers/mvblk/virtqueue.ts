/**
 * Concepts: one split virtqueue (virtio v1.2 §2.7) as the device side walks it, over guest memory reached only
 * through the SDK's `DmaAccess`. The driver owns the descriptor table and the available ring; the device owns the
 * used ring. Every address and count in them is the guest's, so every one is checked before use:
 *
 * - a head or `next` index outside the table, an indirect table that is empty, not whole descriptors, nested, or
 *   longer than `MAX_INDIRECT`, a chain longer than its table (a loop, or a 64k-descriptor chain), or a
 *   device-readable descriptor after a device-writable one: the chain is refused (`BadChain`) and its head is
 *   returned with an error status where one can be written;
 * - memory outside the client's mappings: the access fails (EFAULT from the SDK), the request with it.
 *
 * A queue's indices live here (`lastAvail`, `usedIdx`), so a reset or a migration sees them. No state is kept in
 * guest memory that the device trusts later: each kick reads the available index afresh.
 */
import { type DmaAccess, err } from '../../sdk/index.js';
import { DESC } from './virtio.js';

/** Largest indirect table accepted, in descriptors: Linux's own stay below the queue size. */
export const MAX_INDIRECT = 1024;

/** One buffer of a chain: guest memory the device reads (`write` false) or writes. */
export interface Segment {
  readonly addr: bigint;
  readonly len: number;
  readonly write: boolean;
}

/** A chain the device cannot use, with the last device-writable buffer seen (where an error status may go). */
export class BadChain extends Error {
  readonly lastWritable: Segment | undefined;
  constructor(message: string, lastWritable: Segment | undefined) {
    super(message);
    this.lastWritable = lastWritable;
  }
}

/** The driver-set configuration of one queue (common config), and the device's indices. Plain data. */
export interface QueueState {
  size: number;
  msixVector: number;
  enabled: boolean;
  desc: bigint;
  avail: bigint;
  used: bigint;
  /** Next available-ring slot the device will take. */
  lastAvail: number;
  /** Next used-ring slot the device will fill (the used index it last published). */
  usedIdx: number;
}

/** A queue as reset leaves it: `maxSize` entries, no vector, disabled. */
export function freshQueue(maxSize: number): QueueState {
  return { size: maxSize, msixVector: 0xffff, enabled: false, desc: 0n, avail: 0n, used: 0n, lastAvail: 0, usedIdx: 0 };
}

/** Bytes of the three rings of a queue of `size` entries (descriptor table, available ring, used ring). */
export function ringBytes(size: number): { desc: number; avail: number; used: number } {
  return { desc: 16 * size, avail: 6 + 2 * size, used: 6 + 8 * size };
}

/** The available ring's flags and index, read together. */
export async function readAvail(dma: DmaAccess, q: QueueState): Promise<{ flags: number; idx: number }> {
  const b = await dma.read(q.avail, 4);
  return { flags: b.readUInt16LE(0), idx: b.readUInt16LE(2) };
}

/** The head descriptor index in available-ring slot `slot` (taken modulo the size). */
export async function availHead(dma: DmaAccess, q: QueueState, slot: number): Promise<number> {
  const b = await dma.read(q.avail + 4n + 2n * BigInt(slot % q.size), 2);
  return b.readUInt16LE(0);
}

/**
 * The buffers of the chain at `head`, device-readable ones first. `use` is told each piece of guest memory the walk
 * reads (the table, an indirect table) before it reads it.
 */
export async function walkChain(dma: DmaAccess, q: QueueState, head: number, indirectOk: boolean, use: (iova: bigint, length: number) => void): Promise<Segment[]> {
  const segs: Segment[] = [];
  let table = q.desc;
  let tableSize = q.size;
  let indirect = false;
  let i = head;
  let seen = 0;
  let lastWritable: Segment | undefined;
  const bad = (why: string): BadChain => new BadChain(`descriptor chain at head ${head}: ${why}`, lastWritable);
  // The whole table is copied once (4 KiB for 256 entries) and walked in the copy: one access instead of one per
  // descriptor, and a driver rewriting it meanwhile changes nothing the walk sees.
  if (head >= tableSize) throw bad(`index ${head} outside a table of ${tableSize}`);
  use(table, 16 * tableSize);
  let copy = await dma.read(table, 16 * tableSize);
  for (;;) {
    if (i >= tableSize) throw bad(`index ${i} outside a table of ${tableSize}`);
    // A chain visits each descriptor of its table at most once: more is a loop.
    if (++seen > tableSize) throw bad(`longer than its table of ${tableSize} (a loop?)`);
    const o = 16 * i;
    const addr = copy.readBigUInt64LE(o);
    const len = copy.readUInt32LE(o + 8);
    const flags = copy.readUInt16LE(o + 12);
    const next = copy.readUInt16LE(o + 14);
    if (flags & DESC.INDIRECT) {
      if (!indirectOk) throw bad('an indirect descriptor, not negotiated');
      if (indirect) throw bad('a nested indirect table');
      if (flags & DESC.NEXT) throw bad('an indirect descriptor with NEXT');
      if (len === 0 || len % 16 !== 0 || len / 16 > MAX_INDIRECT) throw bad(`an indirect table of ${len} bytes`);
      table = addr;
      tableSize = len / 16;
      indirect = true;
      i = 0;
      seen = 0;
      use(table, len);
      copy = await dma.read(table, len);
      continue;
    }
    const write = (flags & DESC.WRITE) !== 0;
    if (!write && lastWritable !== undefined) throw bad('a device-readable buffer after a device-writable one');
    const seg = { addr, len, write };
    segs.push(seg);
    if (write) lastWritable = seg;
    if (!(flags & DESC.NEXT)) return segs;
    i = next;
  }
}

/**
 * Publish `head` as used with `len` bytes written: the element, then the index the driver reads. The caller runs
 * one push at a time per queue (an index published out of order would hand the driver a slot not yet filled).
 */
export async function pushUsed(dma: DmaAccess, q: QueueState, head: number, len: number): Promise<void> {
  const slot = q.usedIdx % q.size;
  const elem = Buffer.alloc(8);
  elem.writeUInt32LE(head, 0);
  elem.writeUInt32LE(len, 4);
  await dma.write(q.used + 4n + 8n * BigInt(slot), elem);
  const next = (q.usedIdx + 1) & 0xffff;
  const idx = Buffer.alloc(2);
  idx.writeUInt16LE(next, 0);
  await dma.write(q.used + 2n, idx);
  q.usedIdx = next;
}

/** A queue the driver enabled must have its rings set; EINVAL names the one missing. */
export function checkEnable(q: QueueState, index: number): void {
  if (q.desc === 0n || q.avail === 0n || q.used === 0n) throw err('EINVAL', `queue ${index} enabled without its rings`);
}
