import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeQuad } from '../../src/vfio-user/codec.js';
import { Command } from '../../src/vfio-user/constants.js';
import { BAR0, expectErrno, startServer } from './fixtures.js';

test('DEVICE_GET_REGION_IO_FDS: short, small argsz, nonzero flags/count, bad or empty region, then valid (no ioeventfds)', async (t) => {
  const h = await startServer(t);
  const c = await h.connect();
  const q = (argsz: number, flags: number, index: number, count: number) =>
    c.request(Command.DEVICE_GET_REGION_IO_FDS, encodeQuad({ argsz, flags, a: index, b: count }));
  await expectErrno(c.request(Command.DEVICE_GET_REGION_IO_FDS, Buffer.alloc(4)), 'EINVAL');
  await expectErrno(q(8, 0, BAR0, 0), 'EINVAL');
  await expectErrno(q(64, 1, BAR0, 0), 'EINVAL');
  await expectErrno(q(64, 0, BAR0, 3), 'EINVAL');
  await expectErrno(q(64, 0, 42, 0), 'EINVAL');
  await expectErrno(q(64, 0, 3, 0), 'EINVAL');
  const r = await q(64, 0, BAR0, 0);
  assert.equal(r.fds.length, 0);
  assert.deepEqual([r.body.readUInt32LE(0), r.body.readUInt32LE(4), r.body.readUInt32LE(8), r.body.readUInt32LE(12)], [16, 0, BAR0, 0]);
});
