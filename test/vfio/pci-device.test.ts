import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UmdevError } from '../../src/errors.js';
import { native } from '../../src/native/index.js';
import { PciDevice, registerFile } from '../../src/sdk/index.js';
import { PCI_CAP_ID, PCI_CFG, VFIO_DEVICE_FLAGS, VFIO_IRQ_INFO as I, VFIO_PCI_IRQ, VFIO_PCI_REGION as R, VFIO_REGION_INFO_FLAG as F } from '../../src/vfio/constants.js';
import { requirePciDevice, vfioOf } from '../../src/vfio/pci-device.js';
import type { PciDeviceSpec } from '../../src/vfio/pci-spec.js';

const identity = { vendorId: 0x1b36, deviceId: 0x1234, classCode: 0x030000 };
const RW = F.READ | F.WRITE;

function expectEinval(fn: () => unknown, phrase: string): void {
  assert.throws(fn, (e: unknown) => e instanceof UmdevError && e.errno === 'EINVAL' && e.message.includes(phrase), `EINVAL mentioning "${phrase}"`);
}

test('config space, region info and IRQ info all follow from one declaration', (t) => {
  const d = new PciDevice({
    identity,
    bars: [
      { kind: 'mem32', size: 0x1000, ...registerFile(new Uint8Array(0x1000)) },
      { kind: 'io', size: 16, read: (_o, l) => new Uint8Array(l), write: () => undefined },
      { kind: 'mem64', size: 0x10000n, prefetchable: true, memory: true },
    ],
    irqs: { intx: true, msi: { vectors: 4 }, req: true },
  });
  t.after(() => vfioOf(d).dispose());
  // BAR sizing: all-ones reads back the declared sizes and types.
  for (let i = 0; i < 4; i++) vfioOf(d).write(R.CONFIG, BigInt(PCI_CFG.BASE_ADDRESS_0 + 4 * i), Buffer.from([0xff, 0xff, 0xff, 0xff]));
  const bar = (i: number): number => vfioOf(d).read(R.CONFIG, BigInt(PCI_CFG.BASE_ADDRESS_0 + 4 * i), 4).readUInt32LE(0);
  assert.equal(bar(0), 0xfffff000);
  assert.equal(bar(1), 0xfffffff1);
  assert.equal(bar(2), (0xffff0000 | 0x0c) >>> 0, '64-bit prefetchable');
  assert.equal(bar(3), 0xffffffff, 'upper dword of the 64-bit BAR');
  assert.equal(d.config.byte(PCI_CFG.INTERRUPT_PIN), 1, 'INTA# because INTx is declared');
  assert.equal(d.config.capabilityOffset(PCI_CAP_ID.MSI), 0x40);
  // Regions.
  assert.deepEqual([vfioOf(d).regionInfo(0).flags, vfioOf(d).regionInfo(0).size], [RW, 0x1000n]);
  assert.deepEqual([vfioOf(d).regionInfo(1).flags, vfioOf(d).regionInfo(1).size], [RW, 16n]);
  const mem = vfioOf(d).regionInfo(2);
  assert.equal(mem.flags, RW | F.MMAP);
  assert.equal(mem.size, 0x10000n);
  assert.ok(mem.fd !== undefined && mem.fd >= 0);
  assert.deepEqual([vfioOf(d).regionInfo(3).flags, vfioOf(d).regionInfo(3).size], [0, 0n], 'the upper half of a 64-bit BAR is no region');
  assert.deepEqual([vfioOf(d).regionInfo(R.CONFIG).flags, vfioOf(d).regionInfo(R.CONFIG).size], [RW, 256n]);
  // IRQs.
  assert.deepEqual(vfioOf(d).irqInfo(VFIO_PCI_IRQ.INTX), { index: 0, flags: I.EVENTFD | I.MASKABLE | I.AUTOMASKED, count: 1 });
  assert.deepEqual(vfioOf(d).irqInfo(VFIO_PCI_IRQ.MSI), { index: 1, flags: I.EVENTFD | I.NORESIZE, count: 4 });
  assert.equal(vfioOf(d).irqInfo(VFIO_PCI_IRQ.MSIX).count, 0);
  assert.equal(vfioOf(d).irqInfo(VFIO_PCI_IRQ.REQ).count, 1);
  assert.equal(vfioOf(d).deviceFlags, VFIO_DEVICE_FLAGS.PCI, 'no RESET without a reset hook');
});

test('a memory-backed BAR: the device view, trapped accesses and a mapping of the fd are the same bytes', (t) => {
  const d = new PciDevice({ identity, bars: [{ kind: 'mem32', size: 0x2000, memory: { mmap: [{ offset: 0x1000n, size: 0x1000n }] } }] });
  t.after(() => vfioOf(d).dispose());
  const info = vfioOf(d).regionInfo(0);
  assert.equal(info.flags, RW | F.MMAP | F.CAPS);
  assert.deepEqual(info.sparse, [{ offset: 0x1000n, size: 0x1000n }]);
  const map = native.mmap(info.fd!, 0, 0x2000, true);
  t.after(() => native.munmap(map));
  Buffer.from(map).write('framebuffer', 0x1000);
  assert.equal(d.memory(0).toString('latin1', 0x1000, 0x100b), 'framebuffer');
  assert.equal(vfioOf(d).read(0, 0x1000n, 11).toString('latin1'), 'framebuffer', 'inside the mmap area');
  void vfioOf(d).write(0, 0x10n, Buffer.from('trapped'));
  assert.equal(Buffer.from(map).toString('latin1', 0x10, 0x17), 'trapped', 'outside the area, served from the memory');
  expectEinval(() => d.memory(1), 'not memory-backed');
});

test('MSI-X: the framework adds the capability and serves the table BAR', (t) => {
  const d = new PciDevice({ identity, bars: [{ kind: 'mem32', size: 0x1000, ...registerFile(new Uint8Array(0x1000)) }], irqs: { msix: { vectors: 8, bar: 2 } } });
  t.after(() => vfioOf(d).dispose());
  const cap = d.config.capabilityOffset(PCI_CAP_ID.MSIX)!;
  assert.ok(cap >= 0x40);
  assert.equal(d.config.word(cap + 2) & 0x7ff, 7, 'table size - 1');
  assert.equal(d.config.dword(cap + 4), 2, 'table at offset 0 of BAR2');
  assert.equal(d.config.dword(cap + 8), (8 * 16) | 2, 'PBA right after it');
  assert.deepEqual([vfioOf(d).regionInfo(2).flags, vfioOf(d).regionInfo(2).size], [RW, 0x1000n]);
  assert.equal(vfioOf(d).read(2, 12n, 4).readUInt32LE(0), 1, 'vectors start masked');
  void vfioOf(d).write(2, 16n, Buffer.from([0x00, 0x10, 0xe0, 0xfe]));
  assert.equal(vfioOf(d).read(2, 16n, 4).readUInt32LE(0), 0xfee01000);
  assert.equal(vfioOf(d).read(2, 128n, 8).readBigUInt64LE(0), 0n, 'PBA');
  assert.deepEqual(vfioOf(d).irqInfo(VFIO_PCI_IRQ.MSIX), { index: 2, flags: I.EVENTFD | I.NORESIZE, count: 8 });
  expectEinval(() => new PciDevice({ identity, bars: [{ kind: 'io', size: 8 }], irqs: { msix: { vectors: 1, bar: 0 } } }), 'already declared');
});

test('a bad declaration fails at construction with what is wrong', () => {
  expectEinval(() => new PciDevice({ identity, bars: [{ kind: 'mem32', size: 0x1800 }] }), 'power of two');
  expectEinval(() => new PciDevice({ identity, bars: [{ kind: 'mem32', size: 0x100, memory: true }] }), 'multiple of');
  expectEinval(() => new PciDevice({ identity, irqs: { msi: { vectors: 3, capability: false } } }), 'MSI vectors 3');
  expectEinval(() => new PciDevice({ identity, config: { bytes: [{ offset: 0x3c, data: Uint8Array.of(1) }] } }), 'overlap');
  expectEinval(() => new PciDevice({ identity, bars: [{ kind: 'mem64', size: 0x1000n }, { kind: 'io', size: 8 }] }), 'slot 1');
});

test('requirePciDevice names what a driver returned instead of a device', () => {
  expectEinval(() => requirePciDevice({ regionInfo() {} }, 'parent x'), 'class Object');
  expectEinval(() => requirePciDevice(undefined, 'parent x'), 'returned undefined');
  const d = new PciDevice({ identity });
  assert.equal(requirePciDevice(d, 'parent x'), d);
});

test('per-session memory exists only while a client has the device open: no fd and ENODEV before open and after close', async () => {
  const d = new PciDevice({ identity, bars: [{ kind: 'mem32', size: 0x2000, memory: { perSession: true } }] });
  const enodev = (e: unknown): boolean => e instanceof UmdevError && e.errno === 'ENODEV';
  assert.equal(vfioOf(d).regionInfo(R.BAR0).fd, undefined);
  assert.throws(() => vfioOf(d).read(R.BAR0, 0n, 4), enodev);
  assert.throws(() => d.memory(0), enodev);
  await vfioOf(d).open({ dma: { read: () => Promise.reject(new Error('no DMA')), write: () => Promise.reject(new Error('no DMA')), readv: () => Promise.reject(new Error('no DMA')), writev: () => Promise.reject(new Error('no DMA')) }, log: () => undefined });
  const info = vfioOf(d).regionInfo(R.BAR0);
  assert.ok(info.fd !== undefined && info.fd >= 0, 'the memfd is offered while open');
  assert.equal(info.flags & F.MMAP, F.MMAP);
  vfioOf(d).write(R.BAR0, 8n, Buffer.from([1, 2, 3]));
  assert.deepEqual([...d.memory(0).subarray(8, 11)], [1, 2, 3], 'a trapped write lands in the memory');
  await vfioOf(d).close();
  assert.equal(vfioOf(d).regionInfo(R.BAR0).fd, undefined, 'released on close');
  assert.throws(() => d.memory(0), enodev);
  vfioOf(d).dispose();
});

/** A device declared on first use, counting how often its declaration is asked for. */
class LazyDevice extends PciDevice {
  declared = 0;
  readonly #spec: PciDeviceSpec;

  constructor(spec: PciDeviceSpec) {
    super();
    this.#spec = spec;
  }

  protected override declaration(): PciDeviceSpec {
    this.declared++;
    return this.#spec;
  }
}

test('a device declared on first use is built once, when first asked, and answers as one declared at construction', (t) => {
  let resets = 0;
  const spec: PciDeviceSpec = {
    identity,
    bars: [{ kind: 'io', size: 8, ...registerFile(new Uint8Array(8)) }, { kind: 'mem32', size: 0x1000, ...registerFile(new Uint8Array(0x1000)) }],
    config: { bytes: [{ offset: 0x60, data: Buffer.from('lazy', 'latin1') }] },
    irqs: { intx: true, msi: { vectors: 2, capability: false }, req: true },
    reset: () => void resets++,
  };
  const eager = new PciDevice(spec);
  const lazy = new LazyDevice(spec);
  t.after(() => {
    vfioOf(eager).dispose();
    vfioOf(lazy).dispose();
  });
  // What a status display or a removal asks builds nothing.
  assert.equal(lazy.opened, false);
  assert.equal(lazy.activeIrq, undefined);
  assert.equal(vfioOf(lazy).heldIrqFds, 0);
  lazy.log('info', 'nobody listens');
  assert.equal(lazy.declared, 0, 'not built at construction');
  assert.equal(vfioOf(lazy).deviceFlags, vfioOf(eager).deviceFlags);
  assert.equal(lazy.declared, 1);
  for (let i = 0; i < vfioOf(eager).numRegions; i++) assert.deepEqual(vfioOf(lazy).regionInfo(i), vfioOf(eager).regionInfo(i), `region ${i}`);
  for (let i = 0; i < vfioOf(eager).numIrqs; i++) assert.deepEqual(vfioOf(lazy).irqInfo(i), vfioOf(eager).irqInfo(i), `IRQ index ${i}`);
  assert.deepEqual(vfioOf(lazy).read(R.CONFIG, 0n, 256), vfioOf(eager).read(R.CONFIG, 0n, 256));
  assert.deepEqual(vfioOf(lazy).platformState(), vfioOf(eager).platformState());
  assert.equal(lazy.declared, 1, 'built once');
});

test('a device declared on first use and disposed of unused is never built; built later it holds no memfds, as a disposed one', () => {
  const spec: PciDeviceSpec = { identity, bars: [{ kind: 'mem32', size: 0x1000, memory: true }] };
  const eager = new PciDevice(spec);
  const lazy = new LazyDevice(spec);
  vfioOf(eager).dispose();
  vfioOf(lazy).dispose();
  assert.equal(lazy.declared, 0);
  assert.equal(lazy.hasMemory(0), eager.hasMemory(0));
  assert.equal(lazy.hasMemory(0), false);
  assert.equal(vfioOf(lazy).regionInfo(0).fd, undefined);
});

test('a declaration asked for on first use is checked then; a PciDevice with no declaration fails at construction', () => {
  const bad = new LazyDevice({ identity, bars: [{ kind: 'mem32', size: 0x1800 }] });
  expectEinval(() => vfioOf(bad).regionInfo(0), 'power of two');
  expectEinval(() => vfioOf(bad).deviceFlags, 'power of two');
  expectEinval(() => new PciDevice(), 'needs a declaration');
});
