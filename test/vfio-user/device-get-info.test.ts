import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeQuad } from '../../src/vfio-user/codec.js';
import { Command, DeviceFlags } from '../../src/vfio-user/constants.js';
import { expectErrno, startServer } from './fixtures.js';

test('DEVICE_GET_INFO: short payload, then small argsz, then valid', async (t) => {
  const h = await startServer(t);
  const c = await h.connect();
  await expectErrno(c.request(Command.DEVICE_GET_INFO, Buffer.alloc(8)), 'EINVAL');
  await expectErrno(c.request(Command.DEVICE_GET_INFO, encodeQuad({ argsz: 8, flags: 0, a: 0, b: 0 })), 'EINVAL');
  const r = await c.request(Command.DEVICE_GET_INFO, encodeQuad({ argsz: 64, flags: 0, a: 0, b: 0 }));
  assert.equal(r.body.length, 16);
  assert.equal(r.body.readUInt32LE(0), 16, 'argsz is the size needed');
  const info = await c.deviceInfo();
  assert.deepEqual(info, { flags: DeviceFlags.PCI | DeviceFlags.RESET, numRegions: 9, numIrqs: 5 });
});
