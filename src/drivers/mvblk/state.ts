/**
 * The device state an mvblk migration stream carries: the transport (negotiated features, status, vectors, the
 * selected queue) and each queue's configuration and indices. The disk itself is not in it: the destination names
 * the same backing store (shared storage), as with any VMM's disk migration. Layout (little endian):
 *
 *   0  u32 magic "MVBK"   4 u8 version (1)   5 u8 queues   6 u8 status   7 u8 isr
 *   8  u64 driver features   16 u32 dfselect   20 u32 gfselect   24 u16 msix_config   26 u16 queue_select
 *   28 u8 config_generation   29..31 zero
 *   then per queue, 36 bytes: u16 size, u16 msix vector, u8 enabled, u8 0, u16 last avail, u16 used idx, u16 0,
 *   u64 desc, u64 avail, u64 used
 */
import { err } from '../../sdk/index.js';
import type { QueueState } from './virtqueue.js';
import type { VirtioState } from './virtio-pci.js';

const MAGIC = 0x4b42564d; // "MVBK"
const VERSION = 1;
const HEAD = 32;
const PER_QUEUE = 36;

/** Bytes of the state of a device with `queues` queues. */
export function stateSize(queues: number): number {
  return HEAD + PER_QUEUE * queues;
}

export function saveState(s: VirtioState): Buffer {
  const b = Buffer.alloc(stateSize(s.queues.length));
  b.writeUInt32LE(MAGIC, 0);
  b[4] = VERSION;
  b[5] = s.queues.length;
  b[6] = s.status;
  b[7] = s.isr;
  b.writeBigUInt64LE(s.driverFeatures, 8);
  b.writeUInt32LE(s.dfselect >>> 0, 16);
  b.writeUInt32LE(s.gfselect >>> 0, 20);
  b.writeUInt16LE(s.msixConfig, 24);
  b.writeUInt16LE(s.queueSelect, 26);
  b[28] = s.configGeneration;
  s.queues.forEach((q, i) => {
    const at = HEAD + PER_QUEUE * i;
    b.writeUInt16LE(q.size, at);
    b.writeUInt16LE(q.msixVector, at + 2);
    b[at + 4] = q.enabled ? 1 : 0;
    b.writeUInt16LE(q.lastAvail, at + 6);
    b.writeUInt16LE(q.usedIdx, at + 8);
    b.writeBigUInt64LE(q.desc, at + 12);
    b.writeBigUInt64LE(q.avail, at + 20);
    b.writeBigUInt64LE(q.used, at + 28);
  });
  return b;
}

/** The state in `b`, checked against this device (`queues`, `maxQueueSize`, vectors); EINVAL naming the problem. */
export function loadState(b: Uint8Array, queues: number, maxQueueSize: number): VirtioState {
  const v = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (v.length !== stateSize(queues)) throw err('EINVAL', `mvblk state of ${v.length} bytes, this device's is ${stateSize(queues)}`);
  if (v.readUInt32LE(0) !== MAGIC || v[4] !== VERSION) throw err('EINVAL', 'not an mvblk state (magic or version)');
  if (v[5] !== queues) throw err('EINVAL', `state of a device with ${v[5]} queues, this one has ${queues}`);
  const vector = (n: number, what: string): number => {
    if (n !== 0xffff && n > queues) throw err('EINVAL', `${what} vector ${n} beyond ${queues}`);
    return n;
  };
  const qs: QueueState[] = [];
  for (let i = 0; i < queues; i++) {
    const at = HEAD + PER_QUEUE * i;
    const size = v.readUInt16LE(at);
    if (size === 0 || size > maxQueueSize || (size & (size - 1)) !== 0) throw err('EINVAL', `queue ${i} of size ${size}`);
    if (v[at + 4]! > 1) throw err('EINVAL', `queue ${i} enable byte ${v[at + 4]}`);
    qs.push({
      size,
      msixVector: vector(v.readUInt16LE(at + 2), `queue ${i}`),
      enabled: v[at + 4] === 1,
      lastAvail: v.readUInt16LE(at + 6),
      usedIdx: v.readUInt16LE(at + 8),
      desc: v.readBigUInt64LE(at + 12),
      avail: v.readBigUInt64LE(at + 20),
      used: v.readBigUInt64LE(at + 28),
    });
  }
  return {
    status: v[6]!,
    isr: v[7]! & 3,
    driverFeatures: v.readBigUInt64LE(8),
    dfselect: v.readUInt32LE(16),
    gfselect: v.readUInt32LE(20),
    msixConfig: vector(v.readUInt16LE(24), 'config'),
    queueSelect: v.readUInt16LE(26),
    configGeneration: v[28]!,
    queues: qs,
  };
}
