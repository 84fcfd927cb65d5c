/**
 * A guest's side of an mvblk device, for tests, the fuzz target and the host-side bench: a minimal virtio-blk
 * driver over a vfio-user client. It owns "guest RAM" (a sealed memfd the device maps, or a plain buffer the client
 * serves through DMA_READ/DMA_WRITE), negotiates features, sets up split queues, submits requests as descriptor
 * chains and waits for their completions through MSI-X eventfds, as Linux's virtio_blk and virtio_pci_modern do.
 * Nothing here is trusted by the device: tests also use it to write hostile rings by hand.
 */
import { native } from '../../../src/native/index.js';
import { Seal } from '../../../src/native/index.js';
import { type VfioUserClient } from '../../../src/vfio-user/client.js';
import { IrqSetFlags } from '../../../src/vfio-user/constants.js';
import { BLK_T, COMMON, DESC, FEATURE, STATUS, bit } from '../../../src/drivers/mvblk/virtio.js';
import { DEVICE_OFFSET, NOTIFY_MULTIPLIER, NOTIFY_OFFSET } from '../../../src/drivers/mvblk/virtio-pci.js';

export const BAR0 = 0;
export const MSIX_INDEX = 2;
/** Guest RAM starts here in IOVA space. */
export const RAM_BASE = 0x1000_0000n;
/** Each queue's rings: descriptors at +0, available ring at +0x1000, used ring at +0x2000 of its 64 KiB slot. */
const RING_SLOT = 0x10000n;
/** Data buffers start past the rings of up to 16 queues. */
export const DATA_BASE = RAM_BASE + 16n * RING_SLOT;

export interface GuestOptions {
  /** Bytes of guest RAM (default 32 MiB). */
  readonly ramBytes?: number;
  /** `memfd` (default): mapped by the device; `message`: no fd, the device uses DMA_READ/DMA_WRITE. */
  readonly memory?: 'memfd' | 'message';
  readonly queueSize?: number;
  /** Features to accept of those offered (default: all the device offers). */
  readonly accept?: (offered: bigint) => bigint;
  /** Skip DRIVER_OK and queue setup (a test drives the registers itself). */
  readonly setup?: boolean;
}

/** One queue as the guest driver keeps it. */
export interface GuestQueue {
  readonly index: number;
  readonly size: number;
  readonly desc: bigint;
  readonly avail: bigint;
  readonly used: bigint;
  /** Next free descriptor; the guest uses descriptors round-robin. */
  nextDesc: number;
  availIdx: number;
  lastUsed: number;
  /** The queue's MSI-X eventfd, and interrupts seen on it. */
  readonly eventfd: number;
  interrupts: number;
}

export interface Completion {
  readonly head: number;
  readonly len: number;
}

/** One guest. `close()` releases its RAM and eventfds (not the client). */
export class VirtioGuest {
  client: VfioUserClient;
  readonly ram: Buffer;
  readonly ramFd: number | undefined;
  readonly queues: GuestQueue[] = [];
  features = 0n;
  #mapping: ArrayBuffer | undefined;
  #watches: { stop(): void }[] = [];
  #waiters = new Map<number, () => void>();
  /** Bump allocator over the data area. */
  #next = DATA_BASE;
  #closed = false;

  private constructor(client: VfioUserClient, ram: Buffer, fd: number | undefined, mapping: ArrayBuffer | undefined) {
    this.client = client;
    this.ram = ram;
    this.ramFd = fd;
    this.#mapping = mapping;
  }

  /** Map RAM, reset the device, negotiate, set up `queues` queues with one MSI-X vector each, DRIVER_OK. */
  static async attach(client: VfioUserClient, queues: number, o: GuestOptions = {}): Promise<VirtioGuest> {
    const bytes = o.ramBytes ?? 32 << 20;
    let g: VirtioGuest;
    if ((o.memory ?? 'memfd') === 'memfd') {
      const fd = native.memfdCreate('guest-ram', bytes, Seal.SHRINK | Seal.GROW);
      const mapping = native.mmap(fd, 0, bytes, true);
      g = new VirtioGuest(client, Buffer.from(mapping), fd, mapping);
      await client.dmaMap({ iova: RAM_BASE, size: BigInt(bytes), fd });
    } else {
      const ram = Buffer.alloc(bytes);
      g = new VirtioGuest(client, ram, undefined, undefined);
      client.serveDma(RAM_BASE, ram);
      await client.dmaMap({ iova: RAM_BASE, size: BigInt(bytes) });
    }
    await g.status(0);
    await g.status(STATUS.ACKNOWLEDGE | STATUS.DRIVER);
    const offered = await g.deviceFeatures();
    g.features = o.accept ? o.accept(offered) : offered;
    await g.common(COMMON.GFSELECT, 4, 0);
    await g.common(COMMON.GF, 4, Number(g.features & 0xffffffffn));
    await g.common(COMMON.GFSELECT, 4, 1);
    await g.common(COMMON.GF, 4, Number(g.features >> 32n));
    await g.status(STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK);
    if (o.setup === false) return g;
    const fds: number[] = [];
    for (let q = 0; q < queues; q++) fds.push(native.eventfd(0, { nonblock: true }));
    // Vector 0 for config changes, vector q+1 for queue q.
    const config = native.eventfd(0, { nonblock: true });
    await client.setIrqs({ index: MSIX_INDEX, flags: IrqSetFlags.DATA_EVENTFD | IrqSetFlags.ACTION_TRIGGER, start: 0, count: queues + 1, fds: [config, ...fds] });
    native.close(config);
    await g.common(COMMON.MSIX_CONFIG, 2, 0);
    for (let q = 0; q < queues; q++) await g.setupQueue(q, o.queueSize ?? 256, fds[q]!);
    await g.status(STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK);
    return g;
  }

  async setupQueue(q: number, size: number, eventfd: number): Promise<void> {
    const base = RAM_BASE + BigInt(q) * RING_SLOT;
    const queue: GuestQueue = { index: q, size, desc: base, avail: base + 0x1000n, used: base + 0x2000n, nextDesc: 0, availIdx: 0, lastUsed: 0, eventfd, interrupts: 0 };
    this.fill(queue.desc, 0x3000, 0);
    await this.common(COMMON.Q_SELECT, 2, q);
    await this.common(COMMON.Q_SIZE, 2, size);
    await this.common(COMMON.Q_MSIX, 2, q + 1);
    await this.common64(COMMON.Q_DESC, queue.desc);
    await this.common64(COMMON.Q_AVAIL, queue.avail);
    await this.common64(COMMON.Q_USED, queue.used);
    await this.common(COMMON.Q_ENABLE, 2, 1);
    this.queues[q] = queue;
    const w = native.watch(eventfd, { readable: true }, () => {
      const n = native.eventfdRead(eventfd);
      if (n !== null) queue.interrupts += Number(n);
      this.#waiters.get(q)?.();
    });
    w.unref();
    this.#watches.push(w);
  }

  /** Write `size` bytes of `value` to a common-config register. */
  async common(offset: number, size: 1 | 2 | 4, value: number): Promise<void> {
    const b = Buffer.alloc(size);
    b.writeUIntLE(value, 0, size);
    await this.client.write(BAR0, offset, b);
  }

  /** A 64-bit ring address as two dword writes, as Linux writes it. */
  async common64(offset: number, value: bigint): Promise<void> {
    await this.common(offset, 4, Number(value & 0xffffffffn));
    await this.common(offset + 4, 4, Number(value >> 32n));
  }

  async readCommon(offset: number, size: 1 | 2 | 4): Promise<number> {
    return (await this.client.read(BAR0, offset, size)).readUIntLE(0, size);
  }

  async status(v: number): Promise<void> {
    await this.common(COMMON.STATUS, 1, v);
  }

  async deviceFeatures(): Promise<bigint> {
    await this.common(COMMON.DFSELECT, 4, 0);
    const lo = await this.readCommon(COMMON.DF, 4);
    await this.common(COMMON.DFSELECT, 4, 1);
    const hi = await this.readCommon(COMMON.DF, 4);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** The device config at `offset`. */
  async config(offset: number, size: number): Promise<Buffer> {
    return this.client.read(BAR0, DEVICE_OFFSET + offset, size);
  }

  /** `bytes` of guest RAM for data, 4 KiB aligned; wraps around the data area. */
  alloc(bytes: number): bigint {
    const aligned = BigInt((bytes + 4095) & ~4095);
    if (this.#next + aligned > RAM_BASE + BigInt(this.ram.length)) this.#next = DATA_BASE;
    const at = this.#next;
    this.#next += aligned;
    return at;
  }

  at(iova: bigint): number {
    return Number(iova - RAM_BASE);
  }

  fill(iova: bigint, len: number, v: number): void {
    this.ram.fill(v, this.at(iova), this.at(iova) + len);
  }

  /** Write one descriptor in queue `q`'s table (or at `table` for an indirect one). */
  writeDesc(table: bigint, i: number, addr: bigint, len: number, flags: number, next: number): void {
    const o = this.at(table) + 16 * i;
    this.ram.writeBigUInt64LE(addr, o);
    this.ram.writeUInt32LE(len >>> 0, o + 8);
    this.ram.writeUInt16LE(flags, o + 12);
    this.ram.writeUInt16LE(next, o + 14);
  }

  /** Chain `bufs` in queue `q`'s table from its next free descriptors; returns the head. */
  chain(q: number, bufs: readonly { addr: bigint; len: number; write: boolean }[]): number {
    const queue = this.queues[q]!;
    const head = queue.nextDesc;
    for (let k = 0; k < bufs.length; k++) {
      const i = (head + k) % queue.size;
      const b = bufs[k]!;
      const last = k === bufs.length - 1;
      this.writeDesc(queue.desc, i, b.addr, b.len, (b.write ? DESC.WRITE : 0) | (last ? 0 : DESC.NEXT), last ? 0 : (i + 1) % queue.size);
    }
    queue.nextDesc = (head + bufs.length) % queue.size;
    return head;
  }

  /** Put `head` in queue `q`'s available ring (not yet kicked). */
  offer(q: number, head: number): void {
    const queue = this.queues[q]!;
    const o = this.at(queue.avail);
    this.ram.writeUInt16LE(head, o + 4 + 2 * (queue.availIdx % queue.size));
    queue.availIdx = (queue.availIdx + 1) & 0xffff;
    this.ram.writeUInt16LE(queue.availIdx, o + 2);
  }

  /** Notify queue `q` (a posted write, as QEMU sends a guest's notify). */
  kick(q: number): void {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(q);
    void this.client.write(BAR0, NOTIFY_OFFSET + NOTIFY_MULTIPLIER * q, b, { posted: true }).catch(() => undefined);
  }

  /** Completions published on queue `q` since the last call. */
  takeUsed(q: number): Completion[] {
    const queue = this.queues[q]!;
    const o = this.at(queue.used);
    const idx = this.ram.readUInt16LE(o + 2);
    const out: Completion[] = [];
    while (queue.lastUsed !== idx) {
      const e = o + 4 + 8 * (queue.lastUsed % queue.size);
      out.push({ head: this.ram.readUInt32LE(e), len: this.ram.readUInt32LE(e + 4) });
      queue.lastUsed = (queue.lastUsed + 1) & 0xffff;
    }
    return out;
  }

  /** Wait for `n` completions on queue `q` (interrupt-driven, bounded by `ms`). */
  async waitUsed(q: number, n: number, ms = 5000): Promise<Completion[]> {
    const got: Completion[] = [];
    const deadline = Date.now() + ms;
    for (;;) {
      got.push(...this.takeUsed(q));
      if (got.length >= n) return got;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`queue ${q}: ${got.length} of ${n} completions after ${ms} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 50));
        this.#waiters.set(q, () => {
          clearTimeout(t);
          resolve();
        });
      });
      this.#waiters.delete(q);
    }
  }

  /** A request (header, data buffers, status) on queue `q`: its head and where its status byte is. */
  request(q: number, type: number, sector: bigint, data: readonly { addr: bigint; len: number }[], write: boolean): { head: number; status: bigint } {
    const hdr = this.alloc(16 + 1);
    const o = this.at(hdr);
    this.ram.writeUInt32LE(type, o);
    this.ram.writeUInt32LE(0, o + 4);
    this.ram.writeBigUInt64LE(sector, o + 8);
    const status = hdr + 16n;
    this.ram[this.at(status)] = 0xff;
    const head = this.chain(q, [{ addr: hdr, len: 16, write: false }, ...data.map((d) => ({ ...d, write })), { addr: status, len: 1, write: true }]);
    return { head, status };
  }

  /** Read `bytes` at `sector` (queue `q`) and return the data and status. */
  async read(sector: bigint, bytes: number, q = 0): Promise<{ status: number; data: Buffer; len: number }> {
    const buf = this.alloc(bytes);
    const r = this.request(q, BLK_T.IN, sector, [{ addr: buf, len: bytes }], true);
    this.offer(q, r.head);
    this.kick(q);
    const [c] = await this.waitUsed(q, 1);
    return { status: this.ram[this.at(r.status)]!, data: Buffer.from(this.ram.subarray(this.at(buf), this.at(buf) + bytes)), len: c!.len };
  }

  /** Write `data` at `sector` (queue `q`); the status. */
  async write(sector: bigint, data: Buffer, q = 0): Promise<number> {
    const buf = this.alloc(data.length);
    data.copy(this.ram, this.at(buf));
    const r = this.request(q, BLK_T.OUT, sector, [{ addr: buf, len: data.length }], false);
    this.offer(q, r.head);
    this.kick(q);
    await this.waitUsed(q, 1);
    return this.ram[this.at(r.status)]!;
  }

  async flush(q = 0): Promise<number> {
    const r = this.request(q, BLK_T.FLUSH, 0n, [], false);
    this.offer(q, r.head);
    this.kick(q);
    await this.waitUsed(q, 1);
    return this.ram[this.at(r.status)]!;
  }

  /**
   * What a VMM does when its device moves (migration): the new device gets the same guest RAM (the memfd) and the
   * queues' eventfds, and the guest's driver goes on talking to it. Only for memfd RAM.
   */
  async moveTo(client: VfioUserClient): Promise<void> {
    if (this.ramFd === undefined) throw new Error('moveTo needs memfd RAM');
    await client.dmaMap({ iova: RAM_BASE, size: BigInt(this.ram.length), fd: this.ramFd });
    const config = native.eventfd(0, { nonblock: true });
    await client.setIrqs({ index: MSIX_INDEX, flags: IrqSetFlags.DATA_EVENTFD | IrqSetFlags.ACTION_TRIGGER, start: 0, count: this.queues.length + 1, fds: [config, ...this.queues.map((q) => q.eventfd)] });
    native.close(config);
    this.client = client;
  }

  /** True when the guest accepted `feature`. */
  has(feature: number): boolean {
    return (this.features & bit(feature)) !== 0n;
  }

  /** Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#watches) w.stop();
    this.#watches = [];
    for (const q of this.queues) if (q) native.close(q.eventfd);
    if (this.#mapping) native.munmap(this.#mapping);
    this.#mapping = undefined;
    if (this.ramFd !== undefined) native.close(this.ramFd);
  }
}

export { FEATURE, STATUS };
