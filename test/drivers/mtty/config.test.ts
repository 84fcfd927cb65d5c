import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MttyDevice } from '../../../src/drivers/mtty/device.js';
import { VFIO_DEVICE_FLAGS, VFIO_IRQ_INFO as I, VFIO_PCI_REGION as R, VFIO_REGION_INFO_FLAG as F } from '../../../src/vfio/constants.js';
import { UmdevError } from '../../../src/errors.js';
import { vfioOf } from '../../../src/vfio/pci-device.js';

const CFG = R.CONFIG;
const le32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};

/** The bytes `mtty_create_config_space` writes, from the sample's source, independent of the implementation. */
function sampleConfig(nrPorts: number): Buffer {
  const c = Buffer.alloc(0xff);
  c.writeUInt32LE(0x32534348, 0x00);
  c.writeUInt16LE(0x0001, 0x04);
  c.writeUInt16LE(0x0200, 0x06);
  c[0x08] = 0x10;
  c[0x09] = 0x02;
  c[0x0a] = 0x00;
  c[0x0b] = 0x07;
  c.writeUInt32LE(0x000001, 0x10);
  if (nrPorts === 2) c.writeUInt32LE(0x000001, 0x14);
  c.writeUInt32LE(0x32534348, 0x2c);
  c[0x34] = 0x00;
  c[0x3d] = 0x01;
  c[0x40] = 0x23;
  c[0x43] = 0x80;
  c[0x44] = 0x23;
  c[0x48] = 0x23;
  c[0x4c] = 0x23;
  Buffer.from('PCI Serial/UART', 'latin1').copy(c, 0x60);
  return c;
}

test('config space is byte for byte the sample\'s, for one and two ports', () => {
  for (const n of [1, 2] as const) {
    const d = new MttyDevice(n);
    assert.deepEqual(vfioOf(d).read(CFG, 0n, 0xff), sampleConfig(n));
    // The README's lspci dump of the first row.
    assert.equal(vfioOf(d).read(CFG, 0n, 12).toString('hex'), '48435332010000021002000' + '7');
  }
});

test('device info, region info (offsets index << 40, RW flags everywhere) and IRQ info as the sample', () => {
  const one = new MttyDevice(1);
  const two = new MttyDevice(2);
  assert.equal(vfioOf(one).deviceFlags, VFIO_DEVICE_FLAGS.PCI | VFIO_DEVICE_FLAGS.RESET, 'RESET added so a vfio-user server forwards resets');
  assert.equal(vfioOf(one).numRegions, 9);
  assert.equal(vfioOf(one).numIrqs, 5);
  const expectSize = (d: MttyDevice, i: number): bigint => (i === CFG ? 0x100n : i === 0 || (i === 1 && d.nrPorts === 2) ? 8n : 0n);
  for (const d of [one, two]) {
    for (let i = 0; i < 9; i++) {
      const info = vfioOf(d).regionInfo(i);
      assert.equal(info.size, expectSize(d, i), `region ${i} of ${d.nrPorts} port(s)`);
      assert.equal(info.flags, F.READ | F.WRITE);
      assert.equal(info.offset, BigInt(i) << 40n);
    }
    assert.throws(() => vfioOf(d).regionInfo(9), (e: unknown) => e instanceof UmdevError && e.errno === 'EINVAL');
  }
  assert.deepEqual(vfioOf(one).irqInfo(0), { index: 0, flags: I.EVENTFD | I.MASKABLE | I.AUTOMASKED, count: 1 });
  assert.deepEqual(vfioOf(one).irqInfo(1), { index: 1, flags: I.EVENTFD | I.NORESIZE, count: 1 });
  // MSI-X and ERR exist with no vectors (as vfio-pci reports an absent MSI-X); REQ has one, as the kernel's mtty;
  // past num_irqs is EINVAL.
  for (const i of [2, 3]) assert.deepEqual(vfioOf(one).irqInfo(i), { index: i, flags: I.EVENTFD | I.NORESIZE, count: 0 });
  assert.deepEqual(vfioOf(one).irqInfo(4), { index: 4, flags: I.EVENTFD | I.NORESIZE, count: 1 });
  assert.throws(() => vfioOf(one).irqInfo(5), (e: unknown) => e instanceof UmdevError && e.errno === 'EINVAL');
});

test('BAR sizing: all-ones reads back 0xfffffff9; an address keeps the I/O bit', () => {
  const d = new MttyDevice(2);
  vfioOf(d).write(CFG, 0x10n, le32(0xffffffff));
  assert.equal(vfioOf(d).read(CFG, 0x10n, 4).readUInt32LE(), 0xfffffff9);
  vfioOf(d).write(CFG, 0x10n, le32(0xc150));
  assert.equal(vfioOf(d).read(CFG, 0x10n, 4).readUInt32LE(), 0xc151);
  vfioOf(d).write(CFG, 0x14n, le32(0xffffffff));
  assert.equal(vfioOf(d).read(CFG, 0x14n, 4).readUInt32LE(), 0xfffffff9);
  // An 8-byte write is two dword chunks, so both BARs take their halves.
  vfioOf(d).write(CFG, 0x10n, Buffer.concat([le32(0xc200), le32(0xc208)]));
  assert.deepEqual([vfioOf(d).read(CFG, 0x10n, 4).readUInt32LE(), vfioOf(d).read(CFG, 0x14n, 4).readUInt32LE()], [0xc201, 0xc209]);
});

test('single-port device: BAR1 stays 0; BAR2-4 read back 0; BAR5 and ROM writes are dropped', () => {
  const d = new MttyDevice(1);
  for (const off of [0x14, 0x18, 0x1c, 0x20, 0x24, 0x30]) vfioOf(d).write(CFG, BigInt(off), le32(0xffffffff));
  for (const off of [0x14, 0x18, 0x1c, 0x20, 0x24, 0x30]) assert.equal(vfioOf(d).read(CFG, BigInt(off), 4).readUInt32LE(), 0, `0x${off.toString(16)}`);
});

test('command/status/pin are write-protected, the interrupt line stores its first byte, other offsets are ignored', () => {
  const d = new MttyDevice(1);
  vfioOf(d).write(CFG, 0x04n, le32(0xffffffff));
  vfioOf(d).write(CFG, 0x3cn, Buffer.from([0x0a, 0x07]));
  vfioOf(d).write(CFG, 0x3dn, Buffer.from([0x04]));
  vfioOf(d).write(CFG, 0x0cn, Buffer.from([0x10]));
  vfioOf(d).write(CFG, 0x60n, Buffer.from('XXXX'));
  vfioOf(d).write(CFG, 0x12n, Buffer.from([0xff, 0xff]));
  const cfg = vfioOf(d).read(CFG, 0n, 0xff);
  assert.equal(cfg.readUInt32LE(0x04), 0x02000001);
  assert.equal(cfg.toString('hex', 0x3c, 0x3e), '0a01', 'as the README lspci dump after the guest writes IRQ 10');
  assert.equal(cfg[0x0c], 0);
  assert.equal(cfg.toString('latin1', 0x60, 0x6f), 'PCI Serial/UART');
  assert.equal(cfg.readUInt32LE(0x10), 1);
});

test('accesses outside a region are EINVAL', () => {
  const d = new MttyDevice(1);
  assert.deepEqual([...vfioOf(d).read(CFG, 0xfcn, 4)], [0, 0, 0, 0], 'the last config dword is inside the 256-byte space');
  assert.throws(() => vfioOf(d).read(CFG, 0xfdn, 4), (e: unknown) => e instanceof UmdevError && e.errno === 'EINVAL');
  assert.throws(() => vfioOf(d).read(CFG, 0x100n, 1), (e: unknown) => e instanceof UmdevError && e.errno === 'EINVAL');
  assert.throws(() => vfioOf(d).write(0, 8n, Buffer.from([0])), (e: unknown) => e instanceof UmdevError && e.errno === 'EINVAL');
  assert.throws(() => vfioOf(d).read(1, 0n, 1), (e: unknown) => e instanceof UmdevError && e.errno === 'EINVAL');
});
