/**
 * DMA_UNMAP with GET_DIRTY_BITMAP (spec 0.9.1; libvfio-user's `struct vfio_user_bitmap`, `u64 pgsize, u32 size`
 * after the unmap struct): the reply carries the window's pages the device wrote since dirty logging started, taken
 * after the device let go of the window. Without logging, or with a bitmap too small for the window, EINVAL.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VFIO_DEVICE_FEATURE as V } from '../../src/vfio/constants.js';
import { encodeDmaUnmap } from '../../src/vfio-user/codec.js';
import { Command, DmaUnmapFlags, FeatureFlags as F } from '../../src/vfio-user/constants.js';
import { doorbell, expectErrno, startServer } from './fixtures.js';

const RAM = 0x100000n;
const SIZE = 0x10000n;

function unmapBitmap(argsz: number, pageSize: bigint, size: number): Buffer {
  const b = Buffer.alloc(36);
  encodeDmaUnmap({ argsz, flags: DmaUnmapFlags.GET_DIRTY_BITMAP, iova: RAM, size: SIZE }).copy(b);
  b.writeBigUInt64LE(pageSize, 24);
  b.writeUInt32LE(size, 32);
  return b;
}

test('DMA_UNMAP GET_DIRTY_BITMAP: the pages the device wrote, then the window is gone', async (t) => {
  const h = await startServer(t, { migratable: true });
  const c = await h.connect();
  const ram = Buffer.alloc(Number(SIZE));
  c.serveDma(RAM, ram);
  await c.dmaMap({ iova: RAM, size: SIZE });
  await expectErrno(c.request(Command.DMA_UNMAP, unmapBitmap(36 + 8, 4096n, 8)), 'EINVAL'); // logging is off
  const start = Buffer.alloc(16);
  start.writeBigUInt64LE(4096n, 0);
  await c.feature(F.SET | V.DMA_LOGGING_START, start, 8 + 16);
  await doorbell(c, RAM, RAM + 0x1000n, 16);
  await doorbell(c, RAM, RAM + 0x9ff8n, 16);
  await expectErrno(c.request(Command.DMA_UNMAP, unmapBitmap(36 + 8, 4096n, 1)), 'EINVAL'); // size below one word
  await expectErrno(c.request(Command.DMA_UNMAP, unmapBitmap(36, 4096n, 8)), 'EINVAL'); // argsz without the bitmap
  await expectErrno(c.request(Command.DMA_UNMAP, unmapBitmap(36 + 8, 3000n, 8)), 'EINVAL'); // page size
  const r = await c.request(Command.DMA_UNMAP, unmapBitmap(36 + 8, 4096n, 8));
  assert.equal(r.body.length, 36 + 8);
  const bitmap = r.body.readBigUInt64LE(36);
  assert.equal(bitmap, (1n << 1n) | (1n << 9n) | (1n << 10n), 'pages 1, 9 and 10 were written');
  await expectErrno(c.request(Command.DMA_UNMAP, encodeDmaUnmap({ argsz: 24, flags: 0, iova: RAM, size: SIZE })), 'ENOENT');
});
