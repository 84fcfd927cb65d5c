import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RegionTable } from '../../src/vfio/regions.js';
import { VFIO_REGION_INFO_FLAG as F } from '../../src/vfio/constants.js';
import { UmdevError } from '../../src/errors.js';
import { MemfdBacking } from '../../src/vfio/memfd-region.js';
import { native } from '../../src/native/index.js';

function expectErrno(fn: () => unknown, errno: string): void {
  assert.throws(fn, (e: unknown) => e instanceof UmdevError && e.errno === errno, `expected ${errno}`);
}

test('trapped regions: handlers get region-relative offsets; flags follow the handlers', () => {
  const mem = Buffer.alloc(16);
  const t = new RegionTable(9, [
    { index: 0, size: 16, read: (o, l) => mem.subarray(o, o + l), write: (o, d) => void d.copy(mem, o) },
    { index: 2, size: 4, read: () => Buffer.from([1, 2, 3, 4]).subarray(0, 4) },
  ]);
  t.write(0, 4n, Buffer.from([9, 8]));
  assert.deepEqual([...t.read(0, 3n, 4)], [0, 9, 8, 0]);
  assert.deepEqual(t.info(0), { index: 0, flags: F.READ | F.WRITE, size: 16n });
  assert.equal(t.info(2).flags, F.READ);
  assert.deepEqual(t.info(5), { index: 5, flags: 0, size: 0n });
  expectErrno(() => t.write(2, 0n, Buffer.from([1])), 'EINVAL');
});

test('bounds: out-of-range index, offset or length is EINVAL and reaches no handler', () => {
  let calls = 0;
  const t = new RegionTable(9, [{ index: 7, size: 0xff, read: (_o, l) => (calls++, Buffer.alloc(l)), write: () => void calls++ }]);
  expectErrno(() => t.read(7, 0xfcn, 4), 'EINVAL');
  expectErrno(() => t.read(7, -1n, 1), 'EINVAL');
  expectErrno(() => t.write(7, 0xffn, Buffer.from([0])), 'EINVAL');
  expectErrno(() => t.read(9, 0n, 1), 'EINVAL');
  expectErrno(() => t.info(9), 'EINVAL');
  expectErrno(() => t.read(3, 0n, 1), 'EINVAL');
  assert.equal(calls, 0);
  assert.equal(t.read(7, 0xfbn, 4).length, 4);
});

test('sparse mmap: accesses inside the areas hit the backing fd, the rest is trapped', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'umdev-region-'));
  const fd = fs.openSync(path.join(dir, 'backing'), 'w+');
  t.after(() => {
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  fs.ftruncateSync(fd, 0x3000);
  const trapped: string[] = [];
  const table = new RegionTable(9, [
    {
      index: 0,
      size: 0x2000,
      read: (o, l) => (trapped.push(`r${o.toString(16)}+${l}`), Buffer.alloc(l, 0xee)),
      write: (o, d) => void trapped.push(`w${o.toString(16)}+${d.length}`),
      mmap: { fd, fdOffset: 0x1000n, areas: [{ offset: 0x1000n, size: 0x1000n }] },
    },
  ]);
  const info = table.info(0);
  assert.equal(info.flags, F.READ | F.WRITE | F.MMAP | F.CAPS);
  assert.deepEqual(info.sparse, [{ offset: 0x1000n, size: 0x1000n }]);
  assert.equal(info.fd, fd);
  table.write(0, 0xffen, Buffer.from([1, 2, 3, 4]));
  assert.deepEqual(trapped, ['wffe+2']);
  const raw = Buffer.alloc(2);
  fs.readSync(fd, raw, 0, 2, 0x2000);
  assert.deepEqual([...raw], [3, 4], 'bytes in the area land in the fd at fdOffset + offset');
  assert.deepEqual([...table.read(0, 0xfffn, 3)], [0xee, 3, 4]);
  assert.deepEqual(trapped, ['wffe+2', 'rfff+1']);
});

test('a bad table is refused', () => {
  expectErrno(() => new RegionTable(9, [{ index: 9, size: 1 }]), 'EINVAL');
  expectErrno(() => new RegionTable(9, [{ index: 0, size: 1 }, { index: 0, size: 1 }]), 'EINVAL');
  expectErrno(() => new RegionTable(9, [{ index: 0, size: 0x1000, mmap: { fd: 0, areas: [{ offset: 0x800n, size: 0x1000n }] } }]), 'EINVAL');
});

test('memfd backing: the table, the device view and a client mapping of the fd share the same pages', (t) => {
  const page = native.pageSize();
  const backing = new MemfdBacking('umdev-test-bar', 2 * page);
  t.after(() => backing.close());
  const table = new RegionTable(9, [
    {
      index: 2,
      size: 2 * page,
      read: (_o, l) => Buffer.alloc(l, 0xcc),
      write: () => undefined,
      mmap: { fd: backing.fd, areas: [{ offset: BigInt(page), size: BigInt(page) }] },
    },
  ]);
  table.write(2, BigInt(page) + 8n, Buffer.from('dev'));
  assert.equal(Buffer.from(backing.bytes.subarray(page + 8, page + 11)).toString(), 'dev');
  const client = native.mmap(table.info(2).fd!, 0, 2 * page, true);
  t.after(() => native.munmap(client));
  new Uint8Array(client).set(Buffer.from('cli'), page + 16);
  assert.equal(table.read(2, BigInt(page) + 16n, 3).toString(), 'cli');
  assert.deepEqual([...table.read(2, BigInt(page) - 1n, 2)], [0xcc, 0], 'the byte before the area is trapped');
  assert.throws(() => new MemfdBacking('bad', page + 1), (e: unknown) => e instanceof UmdevError && e.errno === 'EINVAL');
});
