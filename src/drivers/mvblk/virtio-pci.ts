/**
 * Concepts: the virtio-over-PCI transport (virtio v1.2 §4.1) of a modern device, the part every virtio device
 * shares: one memory BAR holding the common configuration, the ISR byte, the device-specific configuration and the
 * notification area, each announced by a vendor-specific PCI capability (`capabilities`) that tells the driver
 * where in the BAR it is.
 *
 *   0x0000 common config (feature negotiation, device status, the selected queue's size, vector, rings, enable)
 *   0x1000 ISR status (read-to-clear; used with INTx only)
 *   0x2000 device config (read through `VirtioDevice.readConfig`)
 *   0x3000 notify: a write anywhere in queue q's 4 bytes (`NOTIFY_MULTIPLIER`) kicks queue q
 *
 * Registers take any access width: a read composes the bytes of every field it covers, a write updates every field
 * it covers (a 64-bit ring address arrives as two 32-bit halves, as Linux's `vp_iowrite64_twopart` sends it).
 * What a status change means (reset, DRIVER_OK) and what a kick does are the device's (`VirtioDevice`).
 */
import { type BarDecl, type CapabilitySpec, vendorCapability } from '../../sdk/index.js';
import { type QueueState, checkEnable, freshQueue } from './virtqueue.js';
import { CAP, COMMON, FEATURE, NO_VECTOR, STATUS, bit } from './virtio.js';

export const COMMON_OFFSET = 0x0000;
export const ISR_OFFSET = 0x1000;
export const DEVICE_OFFSET = 0x2000;
export const NOTIFY_OFFSET = 0x3000;
export const NOTIFY_MULTIPLIER = 4;
export const REGION_SIZE = 0x1000;
export const BAR_SIZE = 0x4000;

/** The transport state a driver sets and a migration carries. Plain data. */
export interface VirtioState {
  dfselect: number;
  gfselect: number;
  driverFeatures: bigint;
  status: number;
  configGeneration: number;
  msixConfig: number;
  queueSelect: number;
  isr: number;
  queues: QueueState[];
}

/** What the device behind the transport supplies. */
export interface VirtioDevice {
  readonly numQueues: number;
  readonly maxQueueSize: number;
  /** Features offered (VERSION_1 included). */
  features(): bigint;
  /** `length` bytes of the device config at `offset` (bytes past its end read as zero). */
  readConfig(offset: number, length: number): Uint8Array;
  /** The driver wrote 0 to status: end what is under way, then `VirtioPci.clear()`; the write waits for it. */
  reset(): Promise<void>;
  /** DRIVER_OK was set: the queues are live. */
  driverOk(): void;
  /** Queue `queue` was notified. */
  kick(queue: number): void;
}

/** A fresh transport state for `numQueues` queues of up to `maxQueueSize` entries. */
export function freshState(numQueues: number, maxQueueSize: number): VirtioState {
  return {
    dfselect: 0,
    gfselect: 0,
    driverFeatures: 0n,
    status: 0,
    configGeneration: 0,
    msixConfig: NO_VECTOR,
    queueSelect: 0,
    isr: 0,
    queues: Array.from({ length: numQueues }, () => freshQueue(maxQueueSize)),
  };
}

interface Field {
  readonly offset: number;
  readonly size: number;
  get(): bigint;
  set?(value: bigint): void | Promise<void>;
}

/** One device's transport registers. Owned by the device. */
export class VirtioPci {
  state: VirtioState;
  readonly #dev: VirtioDevice;
  readonly #fields: readonly Field[];

  constructor(dev: VirtioDevice) {
    this.#dev = dev;
    this.state = freshState(dev.numQueues, dev.maxQueueSize);
    this.#fields = this.#commonFields();
  }

  /** Back to the state of a reset: every field, every queue, the ISR. */
  clear(): void {
    const generation = this.state.configGeneration;
    this.state = freshState(this.#dev.numQueues, this.#dev.maxQueueSize);
    this.state.configGeneration = generation;
  }

  /** True once the driver negotiated `feature`. */
  negotiated(feature: number): boolean {
    return (this.state.driverFeatures & bit(feature)) !== 0n;
  }

  get driverOk(): boolean {
    return (this.state.status & STATUS.DRIVER_OK) !== 0 && (this.state.status & STATUS.NEEDS_RESET) === 0;
  }

  /** The device hit an error it cannot answer in a queue: tell the driver (§2.1.2) and raise a config change. */
  needsReset(): void {
    this.state.status |= STATUS.NEEDS_RESET;
    this.state.isr |= 2;
  }

  /** The vendor capabilities that place the four areas in BAR `bar`. */
  capabilities(bar: number): CapabilitySpec[] {
    const cap = (type: number, offset: number, length: number, extra?: number): CapabilitySpec => {
      const data = Buffer.alloc(extra === undefined ? 13 : 17);
      data[0] = type;
      data[1] = bar;
      data.writeUInt32LE(offset, 5);
      data.writeUInt32LE(length, 9);
      if (extra !== undefined) data.writeUInt32LE(extra, 13);
      return vendorCapability(data);
    };
    return [
      cap(CAP.COMMON, COMMON_OFFSET, REGION_SIZE),
      cap(CAP.NOTIFY, NOTIFY_OFFSET, REGION_SIZE, NOTIFY_MULTIPLIER),
      cap(CAP.ISR, ISR_OFFSET, REGION_SIZE),
      cap(CAP.DEVICE, DEVICE_OFFSET, REGION_SIZE),
    ];
  }

  /** The BAR's declaration: trapped reads and writes. */
  bar(): BarDecl {
    return { kind: 'mem32', size: BAR_SIZE, read: (o, n) => this.read(o, n), write: (o, d) => this.write(o, d) };
  }

  read(offset: number, length: number): Uint8Array {
    if (offset < ISR_OFFSET) return this.#readFields(offset, length);
    if (offset < DEVICE_OFFSET) {
      const out = new Uint8Array(length);
      if (offset === ISR_OFFSET) {
        // Read-to-clear (§4.1.4.5): the driver's INTx handler takes it in one read.
        out[0] = this.state.isr;
        this.state.isr = 0;
      }
      return out;
    }
    if (offset < NOTIFY_OFFSET) return this.#dev.readConfig(offset - DEVICE_OFFSET, length);
    return new Uint8Array(length);
  }

  write(offset: number, data: Buffer): void | Promise<void> {
    if (offset < ISR_OFFSET) return this.#writeFields(offset, data);
    if (offset >= NOTIFY_OFFSET) {
      const q = Math.floor((offset - NOTIFY_OFFSET) / NOTIFY_MULTIPLIER);
      if (q < this.#dev.numQueues) this.#dev.kick(q);
    }
    // The ISR and the device config are read-only (virtio-blk's writeback byte needs CONFIG_WCE, not offered).
    return undefined;
  }

  #readFields(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (const f of this.#fields) {
      if (f.offset + f.size <= offset || f.offset >= offset + length) continue;
      const v = f.get();
      for (let k = 0; k < f.size; k++) {
        const at = f.offset + k - offset;
        if (at >= 0 && at < length) out[at] = Number((v >> BigInt(8 * k)) & 0xffn);
      }
    }
    return out;
  }

  async #writeFields(offset: number, data: Buffer): Promise<void> {
    for (const f of this.#fields) {
      if (f.set === undefined || f.offset + f.size <= offset || f.offset >= offset + data.length) continue;
      let v = f.get();
      for (let k = 0; k < f.size; k++) {
        const at = f.offset + k - offset;
        if (at < 0 || at >= data.length) continue;
        const shift = BigInt(8 * k);
        v = (v & ~(0xffn << shift)) | (BigInt(data[at]!) << shift);
      }
      await f.set(v);
    }
  }

  #queue(): QueueState | undefined {
    return this.state.queues[this.state.queueSelect];
  }

  #commonFields(): Field[] {
    const s = (): VirtioState => this.state;
    const q = (): QueueState | undefined => this.#queue();
    const n = (v: number): bigint => BigInt(v);
    const live = (): boolean => (s().status & STATUS.DRIVER_OK) !== 0;
    return [
      { offset: COMMON.DFSELECT, size: 4, get: () => n(s().dfselect), set: (v) => void (s().dfselect = Number(v)) },
      { offset: COMMON.DF, size: 4, get: () => (s().dfselect < 2 ? (this.#dev.features() >> BigInt(32 * s().dfselect)) & 0xffffffffn : 0n) },
      { offset: COMMON.GFSELECT, size: 4, get: () => n(s().gfselect), set: (v) => void (s().gfselect = Number(v)) },
      {
        offset: COMMON.GF,
        size: 4,
        get: () => (s().gfselect < 2 ? (s().driverFeatures >> BigInt(32 * s().gfselect)) & 0xffffffffn : 0n),
        set: (v) => {
          const sel = s().gfselect;
          // Features are fixed once FEATURES_OK is accepted (§3.1.1).
          if (sel > 1 || s().status & STATUS.FEATURES_OK) return;
          const shift = BigInt(32 * sel);
          s().driverFeatures = (s().driverFeatures & ~(0xffffffffn << shift)) | (v << shift);
        },
      },
      { offset: COMMON.MSIX_CONFIG, size: 2, get: () => n(s().msixConfig), set: (v) => void (s().msixConfig = this.#vector(Number(v))) },
      { offset: COMMON.NUM_QUEUES, size: 2, get: () => n(this.#dev.numQueues) },
      { offset: COMMON.STATUS, size: 1, get: () => n(s().status), set: (v) => this.#setStatus(Number(v)) },
      { offset: COMMON.CONFIG_GENERATION, size: 1, get: () => n(s().configGeneration) },
      { offset: COMMON.Q_SELECT, size: 2, get: () => n(s().queueSelect), set: (v) => void (s().queueSelect = Number(v)) },
      {
        offset: COMMON.Q_SIZE,
        size: 2,
        // A queue that does not exist reads size 0 (§4.1.4.3.2).
        get: () => n(q()?.size ?? 0),
        set: (v) => {
          const queue = q();
          const size = Number(v);
          // Split rings have power-of-two sizes up to the device's maximum; anything else keeps the old size.
          if (queue !== undefined && !live() && size > 0 && size <= this.#dev.maxQueueSize && (size & (size - 1)) === 0) queue.size = size;
        },
      },
      { offset: COMMON.Q_MSIX, size: 2, get: () => n(q()?.msixVector ?? NO_VECTOR), set: (v) => void (q() && (q()!.msixVector = this.#vector(Number(v)))) },
      {
        offset: COMMON.Q_ENABLE,
        size: 2,
        get: () => n(q()?.enabled ? 1 : 0),
        set: (v) => {
          const queue = q();
          // Only 1 may be written (§4.1.4.3.2); a queue without rings stays off.
          if (queue === undefined || v !== 1n || queue.enabled) return;
          try {
            checkEnable(queue, s().queueSelect);
            queue.enabled = true;
          } catch {
            this.needsReset();
          }
        },
      },
      { offset: COMMON.Q_NOFF, size: 2, get: () => n(q() === undefined ? 0 : s().queueSelect) },
      this.#addr(COMMON.Q_DESC, 'desc'),
      this.#addr(COMMON.Q_AVAIL, 'avail'),
      this.#addr(COMMON.Q_USED, 'used'),
      { offset: COMMON.Q_NOTIFY_DATA, size: 2, get: () => n(q() === undefined ? 0 : s().queueSelect) },
      // VIRTIO_F_RING_RESET is not offered: queue_reset reads 0 and ignores writes.
      { offset: COMMON.Q_RESET, size: 2, get: () => 0n, set: () => undefined },
    ];
  }

  #addr(offset: number, which: 'desc' | 'avail' | 'used'): Field {
    return {
      offset,
      size: 8,
      get: () => this.#queue()?.[which] ?? 0n,
      set: (v) => {
        const queue = this.#queue();
        if (queue !== undefined && !queue.enabled) queue[which] = v;
      },
    };
  }

  /** A vector register accepts vectors the device has (queues + config) and NO_VECTOR; others read back NO_VECTOR. */
  #vector(v: number): number {
    return v <= this.#dev.numQueues ? v : NO_VECTOR;
  }

  async #setStatus(v: number): Promise<void> {
    const s = this.state;
    if (v === 0) return this.#dev.reset();
    let next = v & 0xff & ~STATUS.NEEDS_RESET;
    if (next & STATUS.FEATURES_OK && !(s.status & STATUS.FEATURES_OK)) {
      const offered = this.#dev.features();
      // §3.1.1: the device refuses FEATURES_OK for a subset it cannot accept; VERSION_1 is what a modern device needs.
      if (s.driverFeatures & ~offered || !(s.driverFeatures & bit(FEATURE.VERSION_1))) next &= ~STATUS.FEATURES_OK;
    }
    const wasOk = (s.status & STATUS.DRIVER_OK) !== 0;
    s.status = next | (s.status & STATUS.NEEDS_RESET);
    if (!wasOk && next & STATUS.DRIVER_OK) this.#dev.driverOk();
  }
}
