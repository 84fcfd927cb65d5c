/**
 * Concepts: one mvblk device: a modern virtio-blk PCI function (1af4:1042) whose requests are served from a backing
 * file, with guest memory reached only through the SDK's DMA API and completions signalled by MSI-X (a vector per
 * queue, one for config changes) or INTx.
 *
 * A kick of queue q starts a pass over its available ring; each new chain becomes a request that runs on its own
 * (`InFlight`), so requests of one queue and of several queues overlap while one waits on guest memory. Completions
 * of a queue are published one at a time, in the order they finish. Three events wait for requests to end:
 *
 * - the client unmapping memory a request uses (`dmaUnmap`: the reply waits; DMA into the range already fails);
 * - a reset (driver status 0, VFIO reset) or the client leaving: every request ends, then the transport state is
 *   cleared, so nothing reaches guest memory afterwards;
 * - a migration stopping the device: requests end, kicks wait for the device to run again.
 */
import { BackingFile, type DmaAccess, InFlight, PciDevice, Scratch, type PciDeviceSpec, type Request, VFIO_PCI_IRQ, err, pcieCapability, snapshotMigration } from '../../sdk/index.js';
import { type BlkLimits, CHUNK, execute } from './blk.js';
import { type MvblkType, QUEUE_SIZE, SEG_MAX, SIZE_MAX } from './spec.js';
import { loadState, saveState, stateSize } from './state.js';
import { AVAIL_F_NO_INTERRUPT, BLK_CFG, BLK_S, FEATURE, NO_VECTOR, SECTOR, bit } from './virtio.js';
import { VirtioPci } from './virtio-pci.js';
import { BadChain, type QueueState, availHead, pushUsed, readAvail, ringBytes, walkChain } from './virtqueue.js';

/** The BAR of the MSI-X table and PBA (BAR0 holds the virtio registers). */
const MSIX_BAR = 1;

/** One mvblk device. Built from its type alone; its disk arrives as a file (`setBacking`). */
export class MvblkDevice extends PciDevice {
  readonly type: MvblkType;
  readonly #virtio: VirtioPci;
  readonly #inflight = new InFlight();
  readonly #limits: BlkLimits;
  #file: BackingFile | undefined;
  /** Held by a migration (STOP) or a reset under way: kicks wait, no new request starts. */
  #paused = 0;
  /** Queues kicked while paused, or again while being served. */
  readonly #kicked = new Set<number>();
  readonly #serving = new Set<number>();
  /** Per queue: the completion being published (one at a time, see `pushUsed`). */
  #published: Promise<void>[];
  /** Per queue: requests under way, and whether an interrupt waits to be raised for completions already published. */
  readonly #running: number[];
  readonly #irqDue: boolean[];

  constructor(type: MvblkType, uuid: string) {
    super();
    this.type = type;
    this.#limits = { segMax: SEG_MAX, sizeMax: SIZE_MAX, serial: `mvblk-${uuid.replace(/-/g, '')}`.slice(0, 20), scratch: new Scratch(CHUNK) };
    this.#virtio = new VirtioPci({
      numQueues: type.queues,
      maxQueueSize: QUEUE_SIZE,
      features: () => this.features,
      readConfig: (offset, length) => this.#config(offset, length),
      reset: () => this.#reset(),
      driverOk: () => this.#kickAll(),
      kick: (q) => this.#kick(q),
    });
    this.#published = Array.from({ length: type.queues }, () => Promise.resolve());
    this.#running = Array.from({ length: type.queues }, () => 0);
    this.#irqDue = Array.from({ length: type.queues }, () => false);
  }

  protected override declaration(): PciDeviceSpec {
    return {
      name: 'mvblk',
      // Modern virtio-blk (virtio v1.2 §4.1.2: 0x1040 + device id 2), storage class as QEMU's virtio-blk-pci.
      identity: { vendorId: 0x1af4, deviceId: 0x1042, classCode: 0x010000, revision: 1, subsystemVendorId: 0x1af4, subsystemId: 0x1100 },
      bars: [this.#virtio.bar()],
      config: { size: 4096, capabilities: [pcieCapability(), ...this.#virtio.capabilities(0)] },
      irqs: { intx: true, msix: { vectors: this.type.queues + 1, bar: MSIX_BAR } },
      reset: () => this.#reset(),
      close: () => this.#reset(),
      dmaUnmap: (iova, length) => this.#inflight.settle(iova, length),
      busy: () => this.#inflight.size > 0,
      migration: snapshotMigration({
        size: stateSize(this.type.queues),
        save: () => saveState(this.#virtio.state),
        restore: (b) => {
          this.#virtio.state = loadState(b, this.type.queues, QUEUE_SIZE);
        },
        quiesce: () => this.#pause(),
        resume: () => this.#unpause(),
      }),
    };
  }

  /** Features offered: VERSION_1 and the block features; MQ with several queues, RO on a read-only file. */
  get features(): bigint {
    let f = bit(FEATURE.VERSION_1) | bit(FEATURE.BLK_SIZE_MAX) | bit(FEATURE.BLK_SEG_MAX) | bit(FEATURE.BLK_BLK_SIZE) | bit(FEATURE.BLK_FLUSH) | bit(FEATURE.RING_INDIRECT_DESC);
    if (this.type.queues > 1) f |= bit(FEATURE.BLK_MQ);
    if (this.#file?.readOnly) f |= bit(FEATURE.BLK_RO);
    return f;
  }

  /** Sectors of the disk (0 without a file). */
  get capacity(): number {
    return this.#file === undefined ? 0 : Math.floor(this.#file.size / SECTOR);
  }

  /** What the backing file is, for the attribute and log lines. */
  get backing(): string {
    return this.#file?.info.label ?? '';
  }

  /** Requests under way (for tests and status). */
  get inFlight(): number {
    return this.#inflight.size;
  }

  /** The disk's file. EBUSY while a client has the device open: a guest's disk does not change under it. */
  setBacking(file: BackingFile): void {
    if (this.opened) throw err('EBUSY', 'mvblk: the backing file cannot change while a client has the device open');
    this.#file = file;
    this.log('info', `backing file ${file.info.label}: ${file.size} bytes${file.readOnly ? ', read-only' : ''}`);
  }

  #config(offset: number, length: number): Uint8Array {
    const c = Buffer.alloc(BLK_CFG.SIZE);
    c.writeBigUInt64LE(BigInt(this.capacity), BLK_CFG.CAPACITY);
    c.writeUInt32LE(SIZE_MAX, BLK_CFG.SIZE_MAX);
    c.writeUInt32LE(SEG_MAX, BLK_CFG.SEG_MAX);
    c.writeUInt32LE(SECTOR, BLK_CFG.BLK_SIZE);
    c.writeUInt16LE(this.type.queues, BLK_CFG.NUM_QUEUES);
    const out = new Uint8Array(length);
    if (offset < c.length) out.set(c.subarray(offset, Math.min(c.length, offset + length)));
    return out;
  }

  #kickAll(): void {
    for (let q = 0; q < this.type.queues; q++) this.#kick(q);
  }

  #kick(q: number): void {
    if (this.#paused > 0 || this.#serving.has(q)) {
      this.#kicked.add(q);
      return;
    }
    const queue = this.#virtio.state.queues[q];
    if (queue === undefined || !queue.enabled || !this.#virtio.driverOk || !this.opened) return;
    this.#serving.add(q);
    void this.#inflight
      .run((r) => this.#serve(q, queue, r))
      .catch((e: unknown) => this.#broken(q, e))
      .finally(() => {
        this.#serving.delete(q);
        if (this.#kicked.delete(q)) this.#kick(q);
      });
  }

  /** One pass over queue `q`'s available ring: start a request for every new chain. */
  async #serve(q: number, queue: QueueState, r: Request): Promise<void> {
    const dma = this.dma;
    const rings = ringBytes(queue.size);
    r.use(queue.avail, rings.avail);
    const { idx } = await readAvail(dma, queue);
    const ahead = (idx - queue.lastAvail) & 0xffff;
    // More new entries than the ring holds: the driver's index is corrupt (§2.7.13.3).
    if (ahead > queue.size) throw err('EINVAL', `queue ${q}: available index ${idx} is ${ahead} ahead of ${queue.lastAvail}`);
    while (queue.lastAvail !== idx) {
      // Stopped meanwhile (migration, reset): the rest waits for the device to run again.
      if (this.#paused > 0) {
        this.#kicked.add(q);
        return;
      }
      const slot = queue.lastAvail;
      queue.lastAvail = (queue.lastAvail + 1) & 0xffff;
      const head = await availHead(dma, queue, slot);
      this.#running[q]!++;
      void this.#inflight.run((req) => this.#request(q, queue, head, dma, req)).finally(() => this.#running[q]!--);
    }
  }

  /** Run the request at `head` and publish its completion; never rejects. */
  async #request(q: number, queue: QueueState, head: number, dma: DmaAccess, r: Request): Promise<void> {
    const rings = ringBytes(queue.size);
    r.use(queue.desc, rings.desc);
    r.use(queue.used, rings.used);
    const use = (iova: bigint, length: number): void => r.use(iova, length);
    let written = 0;
    try {
      const segs = await walkChain(dma, queue, head, this.#virtio.negotiated(FEATURE.RING_INDIRECT_DESC), use);
      const res = await execute(segs, dma, this.#file, this.#limits, use);
      written = res.status < 0 ? 0 : res.written;
      if (res.why !== undefined) this.log('debug', `mvblk: queue ${q} request ${head}: status ${res.status}: ${res.why}`);
    } catch (e) {
      this.log('debug', `mvblk: queue ${q} request ${head} failed: ${(e as Error).message}`);
      const w = e instanceof BadChain ? e.lastWritable : undefined;
      if (w !== undefined && w.len > 0) {
        // The chain is refused, but its status byte is known: say so there.
        await dma.write(w.addr + BigInt(w.len - 1), Buffer.of(BLK_S.IOERR)).catch(() => undefined);
      }
    }
    const publish = this.#published[q]!.then(() => this.#complete(q, queue, head, written, dma));
    this.#published[q] = publish.catch(() => undefined);
    await publish.catch((e: unknown) => this.#broken(q, e));
  }

  async #complete(q: number, queue: QueueState, head: number, written: number, dma: DmaAccess): Promise<void> {
    await pushUsed(dma, queue, head, written);
    const { flags } = await readAvail(dma, queue);
    if (flags & AVAIL_F_NO_INTERRUPT) return;
    // The last request under way signals at once (queue depth 1 pays nothing); with more under way, completions of
    // this turn of the event loop share one interrupt, as a driver takes every used entry per interrupt anyway.
    if (this.#running[q]! <= 1) {
      this.#irqDue[q] = false;
      this.#signal(queue.msixVector, 1);
    } else if (!this.#irqDue[q]) {
      this.#irqDue[q] = true;
      setImmediate(() => {
        if (!this.#irqDue[q]) return;
        this.#irqDue[q] = false;
        this.#signal(this.#virtio.state.queues[q]?.msixVector ?? NO_VECTOR, 1);
      });
    }
  }

  /** Raise the interrupt of a queue (ISR bit 0) or of a config change (ISR bit 1). */
  #signal(vector: number, isr: number): void {
    if (this.activeIrq === VFIO_PCI_IRQ.MSIX) {
      if (vector !== NO_VECTOR) this.interrupt(vector);
      return;
    }
    this.#virtio.state.isr |= isr;
    this.interrupt(0);
  }

  /** Queue `q` cannot go on (its rings are unreachable or corrupt): NEEDS_RESET and a config interrupt. */
  #broken(q: number, e: unknown): void {
    this.log('warn', `mvblk: queue ${q} stopped: ${(e as Error).message}; the driver must reset the device`);
    if (!this.opened) return;
    this.#virtio.needsReset();
    this.#signal(this.#virtio.state.msixConfig, 2);
  }

  async #pause(): Promise<void> {
    this.#paused++;
    await this.#inflight.drain();
  }

  #unpause(): void {
    if (this.#paused > 0) this.#paused--;
    if (this.#paused > 0) return;
    const again = [...this.#kicked];
    this.#kicked.clear();
    for (const q of again) this.#kick(q);
  }

  /** Every request ends, then the transport starts over (device status 0, VFIO reset, the client leaving). */
  async #reset(): Promise<void> {
    await this.#pause();
    this.#virtio.clear();
    this.#kicked.clear();
    this.#published = Array.from({ length: this.type.queues }, () => Promise.resolve());
    this.#irqDue.fill(false);
    this.#paused--;
  }
}
