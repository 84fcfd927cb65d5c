import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native } from '../../src/native/index.js';
import { encodeDmaMap } from '../../src/vfio-user/codec.js';
import { Command, DmaMapFlags } from '../../src/vfio-user/constants.js';
import { BAR0, Reg, doorbell, expectErrno, startServer } from './fixtures.js';

function memfd(t: { after(fn: () => void): void }, size: number): { fd: number; mem: Buffer } {
  const fd = native.memfdCreate('guest-ram', size);
  const ab = native.mmap(fd, 0, size, true);
  t.after(() => {
    native.munmap(ab);
    native.close(fd);
  });
  return { fd, mem: Buffer.from(ab) };
}

test('DMA_MAP: short payload, small argsz, bad flags, size 0, two fds', async (t) => {
  const h = await startServer(t);
  const c = await h.connect();
  const { fd } = memfd(t, 0x4000);
  const map = (argsz: number, flags: number, size: bigint) => encodeDmaMap({ argsz, flags, offset: 0n, iova: 0x100000n, size });
  await expectErrno(c.request(Command.DMA_MAP, Buffer.alloc(24)), 'EINVAL');
  await expectErrno(c.request(Command.DMA_MAP, map(16, 3, 0x1000n)), 'EINVAL');
  await expectErrno(c.request(Command.DMA_MAP, map(32, 0x10, 0x1000n)), 'EINVAL');
  await expectErrno(c.request(Command.DMA_MAP, map(32, 3, 0n)), 'EINVAL');
  await expectErrno(c.request(Command.DMA_MAP, map(32, 3, 0x1000n), [fd, fd]), 'EINVAL');
  await c.dmaMap({ iova: 0x100000n, size: 0x1000n, fd });
  assert.equal((await c.deviceInfo()).numRegions, 9, 'connection still usable');
});

test('DMA_MAP with an fd: the device DMAs straight into the mapping; overlap is EEXIST', async (t) => {
  const h = await startServer(t);
  const c = await h.connect();
  const { fd, mem } = memfd(t, 0x4000);
  // Window at IOVA 1 MiB backed by file offset 0x1000 (so IOVA 1 MiB = mem[0x1000]).
  await c.dmaMap({ iova: 0x100000n, size: 0x2000n, fd, offset: 0x1000n });
  mem.write('ABCD', 0x1000);
  await doorbell(c, 0x100000n, 0x101000n, 4);
  assert.equal(mem.toString('utf8', 0x2000, 0x2004), 'BCDE');
  assert.equal(h.device.bar0.readUInt32LE(Reg.DONE), 1);
  await expectErrno(c.dmaMap({ iova: 0x100000n, size: 0x2000n, fd }), 'EEXIST');
  await expectErrno(c.dmaMap({ iova: 0x101000n, size: 0x1000n }), 'EEXIST');
  await expectErrno(c.dmaMap({ iova: 0xff000n, size: 0x2000n }), 'EEXIST');
  // A read-only window refuses device writes: the doorbell fails with the device's errno, connection stays.
  await c.dmaMap({ iova: 0x200000n, size: 0x1000n, fd, flags: DmaMapFlags.READ });
  await expectErrno(doorbell(c, 0x100000n, 0x200000n, 4), 'EPERM');
  await expectErrno(doorbell(c, 0x900000n, 0x100000n, 4), 'EFAULT');
  assert.equal((await c.read(BAR0, Reg.DONE, 4)).readUInt32LE(0), 1);
});

test('DMA_MAP beyond max_dma_maps is ENOSPC', async (t) => {
  const h = await startServer(t, { maxDmaMaps: 2 });
  const c = await h.connect();
  assert.equal(c.serverCaps!.maxDmaMaps, 2);
  await c.dmaMap({ iova: 0x1000n, size: 0x1000n });
  await c.dmaMap({ iova: 0x2000n, size: 0x1000n });
  await expectErrno(c.dmaMap({ iova: 0x3000n, size: 0x1000n }), 'ENOSPC');
  await c.dmaUnmap({ iova: 0x1000n, size: 0x1000n });
  await c.dmaMap({ iova: 0x3000n, size: 0x1000n });
});

test('DMA_UNMAP + DMA_MAP(fd) + DMA_MAP(fd) sent back to back, as QEMU does: no error, each map has its fd', async (t) => {
  const h = await startServer(t);
  const c = await h.connect();
  const old = memfd(t, 0x1000);
  const a = memfd(t, 0x1000);
  const b = memfd(t, 0x1000);
  await c.dmaMap({ iova: 0x100000n, size: 0x1000n, fd: old.fd });
  a.mem.write('guest', 0);
  // Three sendmsg calls before the server reads: its first recvmsg returns DMA_UNMAP and DMA_MAP A with A's fd.
  const replies = Promise.allSettled([
    c.dmaUnmap({ iova: 0x100000n, size: 0x1000n }),
    c.dmaMap({ iova: 0x100000n, size: 0x1000n, fd: a.fd }),
    c.dmaMap({ iova: 0x200000n, size: 0x1000n, fd: b.fd }),
  ]);
  assert.deepEqual((await replies).map((r) => r.status), ['fulfilled', 'fulfilled', 'fulfilled']);
  // No DMA_READ/WRITE handler is served by this client: the doorbell works only if both windows are fd-backed.
  await doorbell(c, 0x100000n, 0x200000n, 5);
  assert.equal(b.mem.toString('utf8', 0, 5), 'hvftu');
  assert.equal(old.mem.toString('utf8', 0, 5), '\0\0\0\0\0', 'the unmapped window is not touched');
});
