/**
 * A small VFIO PCI device for the vfio-user tests, declared on the device contract, registered in a real Core with
 * the real bus driver, served on a real unix socket. Regions: BAR0 (0x100 bytes of trapped registers), BAR1 (0x2000
 * bytes of memory; the upper page is a sparse mmap area, the lower one trapped and served from the same memory),
 * config space (256 bytes). IRQs: INTx and MSI (2 vectors). A write to IRQ raises an interrupt; a write to DOORBELL
 * makes the device DMA-read DMA_LEN bytes at DMA_SRC, add 1 to each byte, DMA-write them to DMA_DST, count DONE and
 * raise vector 0 of whichever interrupt is active. With `migratable` the device declares migration (BAR0 is its
 * stream), so the same doorbell exercises dirty-page logging.
 */
import { createLogger } from '../../src/log.js';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Core } from '../../src/core/core.js';
import type { MdevDevice } from '../../src/core/types.js';
import type { Native } from '../../src/native/index.js';
import { PciDevice, registerFile, snapshotMigration } from '../../src/sdk/index.js';
import { VfioUserBusDriver } from '../../src/vfio-user/bus-driver.js';
import { type ClientOptions, VfioUserClient } from '../../src/vfio-user/client.js';
import { vfioOf } from '../../src/vfio/pci-device.js';

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
export class FixtureDevice extends PciDevice {
  readonly bar0: Buffer;
  opens = 0;
  closes = 0;
  resets = 0;
  /** The `count` of every release request a waiting removal sent. */
  readonly releaseRequests: number[] = [];

  /** `migratable`: declare migration, whose stream is BAR0's bytes (one snapshot, with PRE_COPY). */
  constructor(options: { migratable?: boolean } = {}) {
    const bar0 = Buffer.alloc(BAR0_SIZE);
    super({
      name: 'fixture',
      identity: { vendorId: 0x1b36, deviceId: 0x11e8, classCode: 0xff0000 },
      bars: [
        { kind: 'mem32', size: BAR0_SIZE, ...registerFile(bar0, (offset) => this.#written(offset)) },
        { kind: 'mem32', size: BAR1_SIZE, memory: { mmap: [{ offset: 0x1000n, size: 0x1000n }] } },
      ],
      irqs: { intx: true, msi: { vectors: 2 } },
      reset: () => {
        this.resets++;
        this.bar0.fill(0);
      },
      open: () => {
        this.opens++;
      },
      close: () => {
        this.closes++;
      },
      requestRelease: (count) => this.releaseRequests.push(count),
      ...(options.migratable ? { migration: snapshotMigration({ size: BAR0_SIZE, save: () => bar0.slice(), restore: (b) => bar0.set(b) }) } : {}),
    });
    this.bar0 = bar0;
  }

  /** BAR1 as the device sees it (the same pages a client maps). */
  get bar1(): Buffer {
    return this.memory(BAR1);
  }

  #written(offset: number): void | Promise<void> {
    if (offset === Reg.IRQ) {
      const v = this.bar0.readUInt32LE(Reg.IRQ);
      this.trigger(v === 0 ? INTX : MSI, v === 0 ? 0 : v - 1);
    }
    if (offset === Reg.DOORBELL) return this.#doorbell();
  }

  async #doorbell(): Promise<void> {
    const src = this.bar0.readBigUInt64LE(Reg.DMA_SRC);
    const dst = this.bar0.readBigUInt64LE(Reg.DMA_DST);
    const len = this.bar0.readUInt32LE(Reg.DMA_LEN);
    const input = await this.dma.read(src, len);
    await this.dma.write(dst, Buffer.from(input.map((b) => (b + 1) & 0xff)));
    this.bar0.writeUInt32LE(this.bar0.readUInt32LE(Reg.DONE) + 1, Reg.DONE);
    this.interrupt(0);
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
  options: { maxDmaMaps?: number; refuseTimeoutMs?: number; dmaBudget?: number; maxRefused?: number; native?: Native; releaseTimeoutMs?: number; migratable?: boolean } = {},
): Promise<Harness> {
  const runDir = mkdtempSync(join(tmpdir(), 'umdev-vfio-user-'));
  const uuid = `00000000-0000-4000-8000-${(++counter).toString(16).padStart(12, '0')}`;
  const logs: string[] = [];
  const { releaseTimeoutMs, migratable, ...driverOptions } = options;
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
        const d = new FixtureDevice({ migratable });
        devices.push(d);
        return d;
      },
      remove: (_device, state) => vfioOf(state).dispose(),
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
