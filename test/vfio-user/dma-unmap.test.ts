import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeDmaUnmap } from '../../src/vfio-user/codec.js';
import { Command, DmaUnmapFlags } from '../../src/vfio-user/constants.js';
import { doorbell, expectErrno, startServer } from './fixtures.js';

test('DMA_UNMAP: short, small argsz, bad flags, UNMAP_ALL with a range, inexact range, dirty bitmap', async (t) => {
  const h = await startServer(t);
  const c = await h.connect();
  await c.dmaMap({ iova: 0x10000n, size: 0x2000n });
  const unmap = (argsz: number, flags: number, iova: bigint, size: bigint) =>
    c.request(Command.DMA_UNMAP, encodeDmaUnmap({ argsz, flags, iova, size }));
  await expectErrno(c.request(Command.DMA_UNMAP, Buffer.alloc(16)), 'EINVAL');
  await expectErrno(unmap(8, 0, 0x10000n, 0x2000n), 'EINVAL');
  await expectErrno(unmap(24, 0x80, 0x10000n, 0x2000n), 'EINVAL');
  await expectErrno(unmap(24, DmaUnmapFlags.ALL, 0x10000n, 0x2000n), 'EINVAL');
  await expectErrno(unmap(24, 0, 0x10000n, 0x1000n), 'ENOENT');
  await expectErrno(unmap(24, DmaUnmapFlags.GET_DIRTY_BITMAP, 0x10000n, 0x2000n), 'EINVAL'); // no bitmap header
  const r = await unmap(24, 0, 0x10000n, 0x2000n);
  assert.deepEqual(r.body, encodeDmaUnmap({ argsz: 24, flags: 0, iova: 0x10000n, size: 0x2000n }), 'reply echoes the request');
  await expectErrno(unmap(24, 0, 0x10000n, 0x2000n), 'ENOENT');
});

test('DMA_UNMAP with UNMAP_ALL drops every window; device DMA then faults', async (t) => {
  const h = await startServer(t);
  const c = await h.connect();
  const ram = Buffer.alloc(0x2000);
  c.serveDma(0x10000n, ram);
  await c.dmaMap({ iova: 0x10000n, size: 0x1000n });
  await c.dmaMap({ iova: 0x11000n, size: 0x1000n });
  await doorbell(c, 0x10000n, 0x11000n, 8);
  await c.dmaUnmap({ iova: 0n, size: 0n, flags: DmaUnmapFlags.ALL });
  await expectErrno(doorbell(c, 0x10000n, 0x11000n, 8), 'EFAULT');
  await c.dmaMap({ iova: 0x10000n, size: 0x2000n });
  assert.ok(h.device.bar0.length > 0);
});
