import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DISPI, DispiRegisters } from '../../../src/drivers/mbochs/dispi.js';
import { MmioPage } from '../../../src/drivers/mbochs/mmio.js';
import { MMIO } from '../../../src/drivers/mbochs/spec.js';

const MIB = 1024 * 1024;

/** bochs-drm's `bochs_hw_setmode` then `bochs_hw_setbase`, through the register page as 16-bit writes. */
function setMode(page: MmioPage, w: number, h: number, bpp: number, vram: number, x = 0, y = 0, virtWidth = w): void {
  const reg = (index: number, value: number): void => {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(value);
    page.write(MMIO.DISPI.offset + index * 2, b);
  };
  reg(DISPI.ENABLE, 0);
  reg(DISPI.BPP, bpp);
  reg(DISPI.XRES, w);
  reg(DISPI.YRES, h);
  reg(DISPI.BANK, 0);
  reg(DISPI.VIRT_WIDTH, w);
  reg(DISPI.VIRT_HEIGHT, Math.floor(vram / (w * (bpp / 8))));
  reg(DISPI.X_OFFSET, 0);
  reg(DISPI.Y_OFFSET, 0);
  reg(DISPI.ENABLE, DISPI.ENABLED | DISPI.LFB_ENABLED);
  reg(DISPI.VIRT_WIDTH, virtWidth);
  reg(DISPI.X_OFFSET, x);
  reg(DISPI.Y_OFFSET, y);
}

const read16 = (page: MmioPage, index: number): number => page.read(MMIO.DISPI.offset + index * 2, 2).readUInt16LE(0);

test('after reset: ID5, the video memory in 64 KiB units, display off', () => {
  const d = new DispiRegisters(4 * MIB);
  const page = new MmioPage(d, new Uint8Array(0));
  assert.equal(read16(page, DISPI.ID), 0xb0c5);
  assert.equal(read16(page, DISPI.VIDEO_MEMORY_64K), 64);
  for (const i of [DISPI.XRES, DISPI.YRES, DISPI.BPP, DISPI.ENABLE, DISPI.VIRT_WIDTH, DISPI.X_OFFSET, DISPI.Y_OFFSET]) assert.equal(read16(page, i), 0);
  const s = d.scanout();
  assert.ok('off' in s);
  assert.match(s.off, /disabled/);
});

test('a mode set as bochs-drm sets it becomes the scanout; ID and video memory ignore writes', () => {
  const d = new DispiRegisters(4 * MIB);
  const page = new MmioPage(d, new Uint8Array(0));
  setMode(page, 800, 600, 32, 4 * MIB);
  assert.deepEqual(d.scanout(), { format: 'xrgb8888', bytesPerPixel: 4, width: 800, height: 600, stride: 3200, offset: 0, size: 3200 * 600 });
  page.write(MMIO.DISPI.offset + DISPI.ID * 2, Buffer.from([0xc0, 0xb0]));
  page.write(MMIO.DISPI.offset + DISPI.VIDEO_MEMORY_64K * 2, Buffer.from([0xff, 0xff]));
  assert.equal(read16(page, DISPI.ID), 0xb0c5);
  assert.equal(read16(page, DISPI.VIDEO_MEMORY_64K), 64);
  // Reset turns the display off again.
  d.reset();
  assert.ok('off' in d.scanout());
});

test('panning: virtual width and x/y offsets place the plane in video memory', () => {
  const d = new DispiRegisters(16 * MIB);
  const page = new MmioPage(d, new Uint8Array(0));
  setMode(page, 640, 480, 32, 16 * MIB, 8, 100, 1024);
  assert.deepEqual(d.scanout(), { format: 'xrgb8888', bytesPerPixel: 4, width: 640, height: 480, stride: 4096, offset: 8 * 4 + 100 * 4096, size: 4096 * 480 });
  // A virtual width below the visible width is taken as the visible width, as the sample does.
  setMode(page, 640, 480, 32, 16 * MIB, 0, 0, 100);
  const s = d.scanout();
  assert.ok(!('off' in s));
  assert.equal(s.stride, 2560);
});

test('24 and 16 bits per pixel are shown; other depths, tiny modes and overflowing planes are not', () => {
  const d = new DispiRegisters(4 * MIB);
  const page = new MmioPage(d, new Uint8Array(0));
  setMode(page, 800, 600, 24, 4 * MIB);
  assert.deepEqual(d.scanout(), { format: 'rgb888', bytesPerPixel: 3, width: 800, height: 600, stride: 2400, offset: 0, size: 2400 * 600 });
  setMode(page, 800, 600, 16, 4 * MIB);
  assert.deepEqual(d.scanout(), { format: 'rgb565', bytesPerPixel: 2, width: 800, height: 600, stride: 1600, offset: 0, size: 1600 * 600 });
  setMode(page, 800, 600, 8, 4 * MIB);
  assert.match((d.scanout() as { off: string }).off, /8 bits per pixel/);
  setMode(page, 63, 600, 32, 4 * MIB);
  assert.match((d.scanout() as { off: string }).off, /invalid resolution 63x600/);
  setMode(page, 1920, 1080, 32, 4 * MIB);
  assert.match((d.scanout() as { off: string }).off, /overflows video memory/);
  // The last line fits exactly; one more line of offset does not.
  setMode(page, 1024, 512, 32, 4 * MIB, 0, 512);
  assert.ok(!('off' in d.scanout()));
  setMode(page, 1024, 512, 32, 4 * MIB, 0, 513);
  assert.ok('off' in d.scanout());
});

test('the register page: DISPI only in 16-bit accesses; VGA and QEMU ext registers read zero; EDID reads back', () => {
  const d = new DispiRegisters(4 * MIB);
  const edid = Uint8Array.from({ length: 128 }, (_, i) => i + 1);
  const page = new MmioPage(d, edid);
  // A 32-bit read over ID and XRES is not a DISPI access (the sample answers only 2-byte ones).
  assert.deepEqual([...page.read(MMIO.DISPI.offset, 4)], [0, 0, 0, 0]);
  // A 4-byte write at an aligned offset (YRES, 0x504) is one 32-bit access: ignored.
  page.write(MMIO.DISPI.offset + DISPI.YRES * 2, Buffer.from([0x58, 0x02, 0x20, 0x00]));
  assert.deepEqual([read16(page, DISPI.YRES), read16(page, DISPI.BPP)], [0, 0]);
  // At 0x502 it is split into two aligned 16-bit accesses (XRES, YRES), as the sample's write loop splits it.
  page.write(MMIO.DISPI.offset + DISPI.XRES * 2, Buffer.from([0x20, 0x03, 0x58, 0x02]));
  assert.deepEqual([read16(page, DISPI.XRES), read16(page, DISPI.YRES)], [800, 600]);
  page.write(MMIO.DISPI.offset + DISPI.XRES * 2, Buffer.from([0, 0]));
  // Byte writes are ignored too.
  page.write(MMIO.DISPI.offset + DISPI.XRES * 2, Buffer.from([0x20]));
  assert.equal(read16(page, DISPI.XRES), 0);
  // An index past the file reads 0 and ignores writes (0x516 is outside the block).
  assert.equal(page.read(MMIO.DISPI.offset + 0x16, 2).readUInt16LE(0), 0);
  page.write(MMIO.VGA.offset + 2, Buffer.from([0x01]));
  assert.deepEqual([...page.read(MMIO.VGA.offset, 0x20)], new Array(0x20).fill(0));
  assert.deepEqual([...page.read(MMIO.QEXT.offset, 8)], new Array(8).fill(0));
  // EDID: byte by byte as bochs-drm reads it, and in wider chunks; zero past the block; writes ignored.
  assert.deepEqual([...page.read(0, 8)], [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.equal(page.read(127, 1)[0], 128);
  assert.deepEqual([...page.read(126, 4)], [127, 128, 0, 0]);
  page.write(0, Buffer.from([0xff]));
  assert.equal(page.read(0, 1)[0], 1);
});
