/**
 * A small VFIO PCI device for the vfio-user tests, registered in a real Core with the real bus driver, served on a
 * real unix socket. Regions: BAR0 (0x100 bytes of trapped registers), BAR1 (0x2000 bytes backed by a memfd; the
 * upper page is a sparse mmap area), config space (256 bytes). IRQs: INTx (1, maskable, automasked) and MSI (2).
 * A write to IRQ raises an interrupt; a write to DOORBELL makes the device DMA-read DMA_LEN bytes at DMA_SRC, add 1
 * to each byte, DMA-write them to DMA_DST, count DONE and raise MSI 0 (INTx when MSI has no eventfd).
 */
import { createLogger } from '../../src/log.js';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Core } from '../../src/core/core.js';
import { err } from '../../src/core/errors.js';
import type { MdevDevice } from '../../src/core/types.js';
import { type Native, native } from '../../src/native/index.js';
import type { DmaAccess, SetIrqsRequest, VfioDevice, VfioIrqInfo, VfioOpenContext, VfioRegionInfo } from '../../src/vfio/device.js';
import { VfioUserBusDriver } from '../../src/vfio-user/bus-driver.js';
import { type ClientOptions, VfioUserClient } from '../../src/vfio-user/client.js';
import { DeviceFlags, IrqInfoFlags, IrqSetFlags, RegionFlags } from '../../src/vfio-user/constants.js';

export const BAR0 = 0;
export const BAR1 = 1;
export const CONFIG = 7;
export const INTX = 0;
export const MSI = 1;
export const BAR0_SIZE = 0x100;
export const BAR1_SIZE = 0x2000;
/** BAR0 register offsets. */
export const Reg = { SCRATCH: 0x00, IRQ: 0x04, DMA_SRC: 0x08, DMA_DST: 0x10, DMA_LEN: 0x18, DOORBELL: 0x1c, DONE: 0x20 } as const;

/** The fixture device; counters let tests see what the server did to it. */
export class FixtureDevice implements VfioDevice {
  readonly deviceFlags = DeviceFlags.PCI | DeviceFlags.RESET;
  readonly numRegions = 9;
  readonly numIrqs = 5;
  readonly bar0 = Buffer.alloc(BAR0_SIZE);
  readonly config = Buffer.alloc(256);
  readonly bar1Fd: number;
  readonly bar1: Buffer;
  readonly #bar1Map: ArrayBuffer;
  /** eventfds per IRQ index and sub-index, owned by the device once SET_IRQS hands them over. */
  readonly irqFds: number[][] = [[-1], [-1, -1], [], [], []];
  intxMasked = false;
  dma: DmaAccess | undefined;
  opens = 0;
  closes = 0;
  resets = 0;
  readonly setIrqsCalls: SetIrqsRequest[] = [];
  /** The `count` of every release request a waiting removal sent. */
  readonly releaseRequests: number[] = [];

  constructor() {
    this.bar1Fd = native.memfdCreate('fixture-bar1', BAR1_SIZE);
    this.#bar1Map = native.mmap(this.bar1Fd, 0, BAR1_SIZE, true);
    this.bar1 = Buffer.from(this.#bar1Map);
    this.config.writeUInt16LE(0x1b36, 0); // vendor
    this.config.writeUInt16LE(0x11e8, 2); // device
  }

  regionInfo(index: number): VfioRegionInfo {
    const rw = RegionFlags.READ | RegionFlags.WRITE;
    if (index === BAR0) return { index, flags: rw, size: BigInt(BAR0_SIZE) };
    if (index === BAR1) {
      return { index, flags: rw | RegionFlags.MMAP, size: BigInt(BAR1_SIZE), sparse: [{ offset: 0x1000n, size: 0x1000n }], fd: this.bar1Fd, fdOffset: 0n };
    }
    if (index === CONFIG) return { index, flags: rw, size: 256n };
    return { index, flags: 0, size: 0n };
  }

  irqInfo(index: number): VfioIrqInfo {
    if (index === INTX) return { index, flags: IrqInfoFlags.EVENTFD | IrqInfoFlags.MASKABLE | IrqInfoFlags.AUTOMASKED, count: 1 };
    if (index === MSI) return { index, flags: IrqInfoFlags.EVENTFD | IrqInfoFlags.NORESIZE, count: 2 };
    return { index, flags: 0, count: 0 };
  }

  #mem(index: number): Buffer {
    if (index === BAR0) return this.bar0;
    if (index === BAR1) return this.bar1;
    if (index === CONFIG) return this.config;
    throw err('EINVAL', `region ${index}`);
  }

  read(index: number, offset: bigint, length: number): Buffer {
    const o = Number(offset);
    return Buffer.from(this.#mem(index).subarray(o, o + length));
  }

  write(index: number, offset: bigint, data: Buffer): void | Promise<void> {
    const o = Number(offset);
    data.copy(this.#mem(index), o);
    if (index !== BAR0) return;
    if (o === Reg.IRQ) {
      const v = this.bar0.readUInt32LE(Reg.IRQ);
      this.raise(v === 0 ? INTX : MSI, v === 0 ? 0 : v - 1);
    }
    if (o === Reg.DOORBELL) return this.#doorbell();
  }

  async #doorbell(): Promise<void> {
    if (!this.dma) throw err('ENODEV', 'no client');
    const src = this.bar0.readBigUInt64LE(Reg.DMA_SRC);
    const dst = this.bar0.readBigUInt64LE(Reg.DMA_DST);
    const len = this.bar0.readUInt32LE(Reg.DMA_LEN);
    const input = await this.dma.read(src, len);
    await this.dma.write(dst, Buffer.from(input.map((b) => (b + 1) & 0xff)));
    this.bar0.writeUInt32LE(this.bar0.readUInt32LE(Reg.DONE) + 1, Reg.DONE);
    this.raise(this.irqFds[MSI]![0]! >= 0 ? MSI : INTX, 0);
  }

  /** Signal an interrupt's eventfd (INTx respects its mask and masks itself, as AUTOMASKED says). */
  raise(index: number, sub: number): void {
    if (index === INTX) {
      if (this.intxMasked) return;
      this.intxMasked = true;
    }
    const fd = this.irqFds[index]?.[sub] ?? -1;
    if (fd >= 0) native.eventfdSignal(fd);
  }

  setIrqs(r: SetIrqsRequest): void {
    this.setIrqsCalls.push(r);
    const fds = this.irqFds[r.index]!;
    const action = r.flags & IrqSetFlags.ACTION_TYPE_MASK;
    const data = r.flags & IrqSetFlags.DATA_TYPE_MASK;
    if (action === IrqSetFlags.ACTION_TRIGGER && data === IrqSetFlags.DATA_EVENTFD) {
      r.fds!.forEach((fd, i) => {
        const old = fds[r.start + i]!;
        if (old >= 0) native.close(old);
        fds[r.start + i] = fd;
      });
      return;
    }
    if (data === IrqSetFlags.DATA_EVENTFD) {
      for (const fd of r.fds ?? []) if (fd >= 0) native.close(fd);
      return;
    }
    if (action === IrqSetFlags.ACTION_TRIGGER && r.count === 0) {
      for (let i = 0; i < fds.length; i++) this.#release(fds, i);
      return;
    }
    for (let i = 0; i < r.count; i++) {
      if (data === IrqSetFlags.DATA_BOOL && !r.bools![i]) continue;
      if (action === IrqSetFlags.ACTION_TRIGGER) this.raise(r.index, r.start + i);
      else if (r.index === INTX) this.intxMasked = action === IrqSetFlags.ACTION_MASK;
    }
  }

  #release(fds: number[], i: number): void {
    if (fds[i]! >= 0) native.close(fds[i]!);
    fds[i] = -1;
  }

  requestRelease(count: number): void {
    this.releaseRequests.push(count);
  }

  reset(): void {
    this.resets++;
    this.bar0.fill(0);
    this.intxMasked = false;
  }

  open(context: VfioOpenContext): void {
    if (this.dma) throw err('EBUSY', 'already open');
    this.opens++;
    this.dma = context.dma;
  }

  close(): void {
    this.closes++;
    this.#releaseAll();
  }

  #releaseAll(): void {
    this.dma = undefined;
    for (const fds of this.irqFds) for (let i = 0; i < fds.length; i++) this.#release(fds, i);
  }

  /** Number of eventfds the device still holds. */
  heldIrqFds(): number {
    return this.irqFds.flat().filter((fd) => fd >= 0).length;
  }

  dispose(): void {
    this.#releaseAll();
    native.munmap(this.#bar1Map);
    native.close(this.bar1Fd);
  }
}

export interface Harness {
  readonly core: Core;
  readonly driver: VfioUserBusDriver;
  readonly uuid: string;
  readonly device: FixtureDevice;
  readonly mdev: MdevDevice;
  readonly path: string;
  readonly logs: string[];
  /** A negotiated client, closed when the test ends. */
  connect(options?: ClientOptions): Promise<VfioUserClient>;
}

let counter = 0;

/** A Core with the fixture parent, the vfio-user bus driver and one device; torn down after the test. */
export async function startServer(
  t: { after(fn: () => unknown): void },
  options: { maxDmaMaps?: number; refuseTimeoutMs?: number; dmaBudget?: number; maxRefused?: number; native?: Native; releaseTimeoutMs?: number } = {},
): Promise<Harness> {
  const runDir = mkdtempSync(join(tmpdir(), 'umdev-vfio-user-'));
  const uuid = `00000000-0000-4000-8000-${(++counter).toString(16).padStart(12, '0')}`;
  const logs: string[] = [];
  const { releaseTimeoutMs, ...driverOptions } = options;
  const core = new Core(releaseTimeoutMs === undefined ? {} : { releaseTimeoutMs });
  const clients: VfioUserClient[] = [];
  // Registered first, so a failure anywhere below still leaves nothing behind.
  t.after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    if (core.device(uuid)) await core.remove(uuid, { force: true });
    if (core.drivers().length > 0) await core.unregisterDriver('vfio-user');
    if (core.parent('fixture')) await core.unregisterParent('fixture');
    rmSync(runDir, { recursive: true, force: true });
  });
  const devices: FixtureDevice[] = [];
  core.registerParent<FixtureDevice>({
    name: 'fixture',
    devicePath: 'virtual/fixture/fixture',
    driverName: 'fixture',
    deviceApi: 'vfio-pci',
    maxInstances: 8,
    types: [{ sysfsName: '1' }],
    ops: {
      create: () => {
        const d = new FixtureDevice();
        devices.push(d);
        return d;
      },
      remove: (_device, state) => state.dispose(),
    },
  });
  const driver = new VfioUserBusDriver({ core, runDir, log: createLogger({ level: 'debug', sink: { write: (line: string) => logs.push(line) } }), ...driverOptions });
  await core.registerDriver(driver);
  const mdev = await core.create('fixture', 'fixture-1', uuid);
  assert.equal(mdev.driver, 'vfio-user', 'the fixture device is bound to vfio-user');
  return {
    core,
    driver,
    uuid,
    device: devices[0]!,
    mdev,
    path: driver.socketPath(uuid),
    logs,
    connect: async (o) => {
      const c = await VfioUserClient.connect(driver.socketPath(uuid), o);
      clients.push(c);
      return c;
    },
  };
}

/** libvfio-user's `msg(..., expect=errno.EINVAL)`: the promise rejects with that errno. */
export async function expectErrno(p: Promise<unknown>, errno: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.equal((e as { errno?: string }).errno, errno, `expected ${errno}, got ${String(e)}`);
    return true;
  });
}

/** Wait (bounded) for a condition the event loop will make true. */
export async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 4));
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** Program the doorbell: the device reads `len` bytes at `src` and writes them, each +1, at `dst`. */
export async function doorbell(c: VfioUserClient, src: bigint, dst: bigint, len: number): Promise<void> {
  const regs = Buffer.alloc(20);
  regs.writeBigUInt64LE(src, 0);
  regs.writeBigUInt64LE(dst, 8);
  regs.writeUInt32LE(len, 16);
  await c.write(BAR0, Reg.DMA_SRC, regs);
  await c.write(BAR0, Reg.DOORBELL, Buffer.from([1, 0, 0, 0]));
}
