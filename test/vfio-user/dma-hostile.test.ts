/**
 * DMA_MAP fds a hostile client may pass: too small, truncated later, of the wrong kind, or many. Each gets an errno
 * (or a failed DMA) and the daemon keeps serving; none may fault the process or exhaust its mappings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, ftruncateSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Seal, native } from '../../src/native/index.js';
import { BAR0, Reg, doorbell, expectErrno, startServer } from './fixtures.js';

function memfd(t: { after(fn: () => void): void }, size: number, seals?: number): { fd: number; mem: Buffer } {
  const fd = native.memfdCreate('guest-ram', size, seals);
  const ab = native.mmap(fd, 0, size, true);
  t.after(() => {
    native.munmap(ab);
    native.close(fd);
  });
  return { fd, mem: Buffer.from(ab) };
}

test('DMA_MAP of a 4 KiB memfd claimed as 64 KiB is EINVAL; the device DMA at 0x2000 cannot fault', async (t) => {
  const h = await startServer(t);
  const c = await h.connect();
  const small = memfd(t, 0x1000);
  await expectErrno(c.dmaMap({ iova: 0x100000n, size: 0x10000n, fd: small.fd }), 'EINVAL');
  await expectErrno(c.dmaMap({ iova: 0x100000n, size: 0x1000n, fd: small.fd, offset: 0x1000n }), 'EINVAL');
  await expectErrno(doorbell(c, 0x102000n, 0x100000n, 4), 'EFAULT');
  assert.equal(h.driver.dmaBudget.used, 0, 'nothing is held for refused windows');
  assert.equal((await c.read(BAR0, Reg.DONE, 4)).readUInt32LE(0), 0, 'still serving');
});

test('an unsealed memfd truncated after DMA_MAP: device DMA past the new end is EFAULT, never SIGBUS', async (t) => {
  const h = await startServer(t);
  const c = await h.connect();
  const ram = memfd(t, 0x10000);
  await c.dmaMap({ iova: 0x100000n, size: 0x10000n, fd: ram.fd });
  assert.ok(h.logs.some((l) => l.includes('by pread/pwrite')), 'an unsealed memfd is not mapped');
  ram.mem.write('abcd', 0x100);
  await doorbell(c, 0x100100n, 0x100200n, 4);
  assert.equal(ram.mem.toString('utf8', 0x200, 0x204), 'bcde', 'pread/pwrite reach the client memory');
  ftruncateSync(ram.fd, 0x1000);
  await expectErrno(doorbell(c, 0x102000n, 0x100000n, 4), 'EFAULT');
  await expectErrno(doorbell(c, 0x10fff0n, 0x100000n, 4), 'EFAULT');
  assert.equal((await c.read(BAR0, Reg.DONE, 4)).readUInt32LE(0), 1, 'the daemon survived and still serves');
  const other = await h.connect().catch((e: unknown) => e);
  assert.ok(other instanceof Error, 'a second client is still refused (one at a time)');
});

test('a memfd sealed against shrinking is mapped (the fast path), and the client cannot shrink it', async (t) => {
  const h = await startServer(t);
  const c = await h.connect();
  const ram = memfd(t, 0x4000, Seal.SHRINK | Seal.GROW);
  await c.dmaMap({ iova: 0x100000n, size: 0x4000n, fd: ram.fd });
  assert.ok(h.logs.some((l) => l.includes('0x100000+0x4000 mapped')), 'a sealed memfd is mapped');
  assert.throws(() => ftruncateSync(ram.fd, 0x1000), /EPERM/);
  ram.mem.write('wxyz', 0x3000);
  await doorbell(c, 0x103000n, 0x100000n, 4);
  assert.equal(ram.mem.toString('utf8', 0, 4), 'xyz{');
  assert.equal(h.driver.dmaBudget.used, 1);
  await c.dmaUnmap({ iova: 0x100000n, size: 0x4000n });
  assert.equal(h.driver.dmaBudget.used, 0, 'unmap gives the mapping back');
});

test('DMA_MAP fds of the wrong kind (pipe, socket, eventfd, directory) are EINVAL and closed', async (t) => {
  const h = await startServer(t);
  const c = await h.connect();
  const dir = mkdtempSync(join(tmpdir(), 'umdev-dma-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const pr = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const pw = openSync(fifo, constants.O_WRONLY);
  const [sa, sb] = native.socketpair();
  const ev = native.eventfd(0);
  const d = openSync(dir, constants.O_RDONLY);
  t.after(() => [pr, pw, sa, sb, ev, d].forEach((fd) => closeSync(fd)));
  for (const fd of [pr, pw, sa, ev, d]) await expectErrno(c.dmaMap({ iova: 0x100000n, size: 0x1000n, fd }), 'EINVAL');
  assert.equal(h.driver.dmaBudget.used, 0);
  await c.dmaMap({ iova: 0x100000n, size: 0x1000n }); // a message window still works
});

test('fd-backed windows count against the daemon-wide budget: past it ENOSPC; a disconnect gives all back', async (t) => {
  const h = await startServer(t, { dmaBudget: 3 });
  const c = await h.connect();
  assert.equal(h.driver.dmaBudget.limit, 3);
  const sealed = memfd(t, 0x10000, Seal.SHRINK);
  const plain = memfd(t, 0x10000);
  await c.dmaMap({ iova: 0x100000n, size: 0x1000n, fd: sealed.fd });
  await c.dmaMap({ iova: 0x101000n, size: 0x1000n, fd: plain.fd, offset: 0x1000n });
  await c.dmaMap({ iova: 0x102000n, size: 0x1000n, fd: sealed.fd, offset: 0x2000n });
  await expectErrno(c.dmaMap({ iova: 0x103000n, size: 0x1000n, fd: sealed.fd, offset: 0x3000n }), 'ENOSPC');
  await expectErrno(c.dmaMap({ iova: 0x103000n, size: 0x1000n, fd: plain.fd, offset: 0x3000n }), 'ENOSPC');
  await c.dmaMap({ iova: 0x200000n, size: 0x1000n }); // no fd: holds nothing in the kernel
  assert.equal(h.driver.dmaBudget.used, 3);
  await c.close();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(h.driver.dmaBudget.used, 0, 'the session gave every mapping and fd back');
});

test('thousands of DMA_MAPs of one memfd end at max_dma_maps with ENOSPC, far below vm.max_map_count', async (t) => {
  const h = await startServer(t, { maxDmaMaps: 1024 });
  const c = await h.connect();
  const ram = memfd(t, 0x1000, Seal.SHRINK);
  const results = await Promise.allSettled(
    Array.from({ length: 1100 }, (_, i) => c.dmaMap({ iova: BigInt(i + 1) * 0x1000n, size: 0x1000n, fd: ram.fd })),
  );
  const ok = results.filter((r) => r.status === 'fulfilled').length;
  const nospc = results.filter((r) => r.status === 'rejected' && (r.reason as { errno?: string }).errno === 'ENOSPC').length;
  assert.equal(ok, 1024);
  assert.equal(nospc, 76);
  assert.equal(h.driver.dmaBudget.used, 1024);
  assert.equal((await c.deviceInfo()).numRegions, 9, 'still serving');
});
