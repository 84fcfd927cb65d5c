import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VFIO_DEVICE_FEATURE as V } from '../../src/vfio/constants.js';
import { FeatureFlags as F } from '../../src/vfio-user/constants.js';
import type { VfioUserClient } from '../../src/vfio-user/client.js';
import { doorbell, expectErrno, startServer } from './fixtures.js';

const PAGE = 4096n;
const RAM = 0x100000n;

function startBody(pageSize: bigint, ranges: readonly [bigint, bigint][], reserved = 0): Buffer {
  const b = Buffer.alloc(16 + 16 * ranges.length);
  b.writeBigUInt64LE(pageSize, 0);
  b.writeUInt32LE(ranges.length, 8);
  b.writeUInt32LE(reserved, 12);
  ranges.forEach(([iova, length], i) => {
    b.writeBigUInt64LE(iova, 16 + 16 * i);
    b.writeBigUInt64LE(length, 24 + 16 * i);
  });
  return b;
}

async function report(c: VfioUserClient, iova: bigint, length: bigint, pageSize = PAGE, argsz?: number): Promise<number[]> {
  const q = Buffer.alloc(24);
  q.writeBigUInt64LE(iova, 0);
  q.writeBigUInt64LE(length, 8);
  q.writeBigUInt64LE(pageSize, 16);
  const words = Number((length / pageSize + 63n) / 64n);
  const r = await c.feature(F.GET | V.DMA_LOGGING_REPORT, q, argsz ?? 8 + 24 + 8 * words);
  const bitmap = r.subarray(24);
  const pages: number[] = [];
  for (let p = 0; p < Number(length / pageSize); p++) if (bitmap[p >> 3]! & (1 << (p & 7))) pages.push(p);
  return pages;
}

test('DMA_LOGGING: pages the device writes are reported once, at the page size asked for, until STOP', async (t) => {
  const h = await startServer(t, { migratable: true });
  const c = await h.connect();
  const ram = Buffer.alloc(0x10000);
  c.serveDma(RAM, ram);
  await c.dmaMap({ iova: RAM, size: 0x10000n });
  await c.feature(F.SET | V.DMA_LOGGING_START, startBody(PAGE, [[RAM, 0x10000n]]));
  assert.deepEqual(await report(c, RAM, 0x10000n), [], 'nothing written yet');
  await doorbell(c, RAM, RAM + 0x800n, 16); // reads page 0, writes page 0
  await doorbell(c, RAM, RAM + 0x1ff8n, 16); // writes across pages 1 and 2
  assert.deepEqual(await report(c, RAM, 0x10000n), [0, 1, 2]);
  assert.deepEqual(await report(c, RAM, 0x10000n), [], 'a report clears what it reported');
  await doorbell(c, RAM, RAM + 0x5000n, 16);
  assert.deepEqual(await report(c, RAM, 0x10000n, PAGE * 2n), [2], 'page 5 is 8 KiB page 2');
  await c.feature(F.SET | V.DMA_LOGGING_STOP);
  await doorbell(c, RAM, RAM + 0x800n, 16);
  await expectErrno(report(c, RAM, 0x10000n), 'EINVAL');
});

test('DMA_LOGGING: malformed starts and reports are EINVAL, a second start EBUSY', async (t) => {
  const h = await startServer(t, { migratable: true });
  const c = await h.connect();
  const start = (body: Buffer, argsz?: number) => c.feature(F.SET | V.DMA_LOGGING_START, body, argsz ?? 8 + body.length);
  await expectErrno(start(startBody(1000n, [[RAM, 0x10000n]])), 'EINVAL'); // not a power of two
  await expectErrno(start(startBody(2048n, [[RAM, 0x10000n]])), 'EINVAL'); // below the page size
  await expectErrno(start(startBody(PAGE, [[RAM, 0x10000n], [RAM + 0x8000n, 0x10000n]])), 'EINVAL'); // overlap
  await expectErrno(start(startBody(PAGE, [[RAM + 1n, 0x10000n]])), 'EINVAL'); // unaligned
  await expectErrno(start(startBody(PAGE, [[RAM, 0n]])), 'EINVAL'); // empty
  await expectErrno(start(startBody(PAGE, [[RAM, 0x10000n]], 1)), 'EINVAL'); // reserved set
  await expectErrno(start(startBody(PAGE, [[RAM, 0x10000n]]), 8 + 16), 'EINVAL'); // argsz misses the range
  await expectErrno(start(startBody(PAGE, [[RAM, 1n << 50n]])), 'EINVAL'); // bitmap too large
  await expectErrno(c.feature(F.GET | V.DMA_LOGGING_START, startBody(PAGE, [[RAM, 0x10000n]])), 'EINVAL'); // SET only
  await expectErrno(report(c, RAM, 0x10000n), 'EINVAL'); // not logging
  await start(startBody(PAGE, [[RAM, 0x10000n]]));
  await expectErrno(start(startBody(PAGE, [[RAM, 0x10000n]])), 'EBUSY');
  await expectErrno(report(c, RAM, 0x10000n, PAGE, 8 + 24), 'EINVAL'); // argsz without room for the bitmap
  await expectErrno(report(c, RAM + 0x8000n, 0x10000n), 'EINVAL'); // leaves the logged range
  await expectErrno(report(c, RAM, 0x10000n, 2048n), 'EINVAL'); // finer than the logging page size
  await expectErrno(report(c, RAM, 0n), 'EINVAL');
  assert.deepEqual(await report(c, RAM, 0x10000n), []);
});

test('DMA_LOGGING: no ranges logs every write the device makes, in any window', async (t) => {
  const h = await startServer(t, { migratable: true });
  const c = await h.connect();
  const ram = Buffer.alloc(0x10000);
  const far = Buffer.alloc(0x4000);
  c.serveDma(RAM, ram);
  c.serveDma(0x5000_0000n, far);
  await c.dmaMap({ iova: RAM, size: 0x10000n });
  await c.dmaMap({ iova: 0x5000_0000n, size: 0x4000n });
  await c.feature(F.SET | V.DMA_LOGGING_START, startBody(PAGE, []));
  await doorbell(c, RAM, RAM + 0x3000n, 16);
  await doorbell(c, RAM, 0x5000_0000n + 0x2ff8n, 16);
  assert.deepEqual(await report(c, RAM, 0x10000n), [3]);
  assert.deepEqual(await report(c, 0x5000_0000n, 0x4000n), [2, 3]);
  assert.deepEqual(await report(c, 0x9000_0000n, 0x4000n), [], 'a range nothing was written to');
});
