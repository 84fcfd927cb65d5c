import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodePng } from '../../../src/display/png.js';
import { screenPng } from '../../../src/display/screen.js';
import { DISPI } from '../../../src/drivers/mbochs/dispi.js';
import { MBOCHS_TYPES, MbochsDevice } from '../../../src/drivers/mbochs/index.js';
import { native } from '../../../src/native/index.js';
import { VFIO_DEVICE_FLAGS, VFIO_PCI_REGION as R, VFIO_REGION_INFO_FLAG as F } from '../../../src/vfio/constants.js';
import { context, isErrno, reg, small } from './helpers.js';
import { PciDevice, vfioOf } from '../../../src/vfio/pci-device.js';


test('PCI identity, BAR sizing and the region table come from the one description', () => {
  const d = new MbochsDevice(small);
  assert.equal(vfioOf(d).deviceFlags, VFIO_DEVICE_FLAGS.PCI | VFIO_DEVICE_FLAGS.RESET);
  assert.equal(vfioOf(d).numRegions, 9);
  const cfg = vfioOf(d).read(R.CONFIG, 0n, 64);
  assert.equal(cfg.readUInt16LE(0), 0x1234);
  assert.equal(cfg.readUInt16LE(2), 0x1111);
  assert.equal(cfg.readUIntLE(9, 3), 0x030000, 'class 03/00/00');
  assert.deepEqual([cfg.readUInt16LE(0x2c), cfg.readUInt16LE(0x2e)], [0x1af4, 0x1100]);
  assert.equal(cfg.readUInt32LE(0x10), 0x8, 'BAR0: 32-bit prefetchable memory');
  assert.equal(cfg.readUInt32LE(0x18), 0x0, 'BAR2: 32-bit memory');
  // Sizing: all-ones reads back the size mask.
  vfioOf(d).write(R.CONFIG, 0x10n, Buffer.from([0xff, 0xff, 0xff, 0xff]));
  vfioOf(d).write(R.CONFIG, 0x18n, Buffer.from([0xff, 0xff, 0xff, 0xff]));
  assert.equal(vfioOf(d).read(R.CONFIG, 0x10n, 4).readUInt32LE(0), (~(4 * 1024 * 1024 - 1) & 0xfffffff0 | 0x8) >>> 0);
  assert.equal(vfioOf(d).read(R.CONFIG, 0x18n, 4).readUInt32LE(0), 0xfffff000);
  assert.equal(vfioOf(d).regionInfo(R.BAR0).size, 4n * 1024n * 1024n);
  assert.equal(vfioOf(d).regionInfo(R.BAR2).size, 0x1000n);
  assert.equal(vfioOf(d).regionInfo(R.CONFIG).size, 256n);
  for (const i of [R.BAR1, R.BAR3, R.BAR4, R.BAR5, R.ROM, R.VGA]) assert.deepEqual(vfioOf(d).regionInfo(i), { index: i, flags: 0, size: 0n });
  for (let i = 0; i < 5; i++) assert.equal(vfioOf(d).irqInfo(i).count, 0, 'no interrupts, as the sample');
});

test('video memory exists while a client has the device open: a memfd offered for mmap with one sparse area', (t) => {
  const d = new MbochsDevice(small);
  assert.equal(vfioOf(d).regionInfo(R.BAR0).fd, undefined);
  assert.throws(() => vfioOf(d).read(R.BAR0, 0n, 4), isErrno('ENODEV'));
  vfioOf(d).open(context);
  t.after(() => vfioOf(d).close());
  const info = vfioOf(d).regionInfo(R.BAR0);
  assert.equal(info.flags, F.READ | F.WRITE | F.MMAP | F.CAPS);
  assert.ok(info.fd !== undefined && info.fd >= 0);
  assert.deepEqual(info.sparse, [{ offset: 0n, size: 4n * 1024n * 1024n }]);
  // What a client stores through its own mapping of the fd is what the device reads, and the other way round.
  const map = new Uint8Array(native.mmap(info.fd, 0, 4096, true));
  map.set([1, 2, 3, 4], 100);
  assert.deepEqual([...vfioOf(d).read(R.BAR0, 100n, 4)], [1, 2, 3, 4]);
  vfioOf(d).write(R.BAR0, 200n, Buffer.from([9, 8]));
  assert.deepEqual([...map.subarray(200, 202)], [9, 8]);
  assert.equal(d.trappedVramBytes, 6, 'trapped accesses are counted');
  native.munmap(map.buffer as ArrayBuffer);
});

test('the display: EBUSY while off, then the plane the DISPI registers describe; reset turns it off', async (t) => {
  const d = new MbochsDevice(small);
  vfioOf(d).open(context);
  t.after(() => vfioOf(d).close());
  assert.throws(() => d.queryPlane(), (e: unknown) => isErrno('EBUSY')(e) && /disabled/.test((e as Error).message));
  await assert.rejects(screenPng(d), isErrno('EBUSY'));
  reg(d, DISPI.BPP, 32);
  reg(d, DISPI.XRES, 64);
  reg(d, DISPI.YRES, 64);
  reg(d, DISPI.VIRT_WIDTH, 128);
  reg(d, DISPI.Y_OFFSET, 2);
  reg(d, DISPI.ENABLE, DISPI.ENABLED | DISPI.LFB_ENABLED);
  const plane = d.queryPlane();
  assert.deepEqual([plane.format, plane.width, plane.height, plane.stride], ['xrgb8888', 64, 64, 512]);
  // Pixel (3, 5) of the plane: 2 lines of offset, then 5 lines, then 3 pixels. B, G, R, X in memory.
  vfioOf(d).write(R.BAR0, BigInt(2 * 512 + 5 * 512 + 3 * 4), Buffer.from([0x30, 0x20, 0x10, 0xff]));
  const img = decodePng(await screenPng(d));
  assert.deepEqual([img.width, img.height], [64, 64]);
  assert.deepEqual([...img.rgb.subarray((5 * 64 + 3) * 3, (5 * 64 + 3) * 3 + 3)], [0x10, 0x20, 0x30]);
  await vfioOf(d).reset();
  assert.throws(() => d.queryPlane(), isErrno('EBUSY'));
});

test('a device without a display is EOPNOTSUPP', async () => {
  const plain = new PciDevice({ identity: { vendorId: 1, deviceId: 2, classCode: 0 } });
  assert.equal(plain.display, undefined);
  await assert.rejects(screenPng(plain.display), isErrno('EOPNOTSUPP'));
  assert.ok(new MbochsDevice(MBOCHS_TYPES[0]!).display !== undefined, 'mbochs declares its display');
});
