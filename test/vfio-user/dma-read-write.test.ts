import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeDmaAccess } from '../../src/vfio-user/codec.js';
import { Command } from '../../src/vfio-user/constants.js';
import { BAR0, Reg, doorbell, expectErrno, startServer } from './fixtures.js';

test('DMA_READ/DMA_WRITE: a window mapped without an fd is reached by messages to the client', async (t) => {
  const h = await startServer(t);
  // A small max_data_xfer_size makes the server split the transfer into several messages.
  const c = await h.connect({ maxDataXferSize: 64 });
  const ram = Buffer.alloc(0x1000);
  c.serveDma(0x40000n, ram);
  await c.dmaMap({ iova: 0x40000n, size: 0x1000n });
  for (let i = 0; i < 200; i++) ram[i] = i;
  await doorbell(c, 0x40000n, 0x40800n, 200);
  for (let i = 0; i < 200; i++) assert.equal(ram[0x800 + i], (i + 1) & 0xff, `byte ${i}`);
  assert.equal((await c.read(BAR0, Reg.DONE, 4)).readUInt32LE(0), 1);
});

test('DMA_READ/DMA_WRITE: a client error reply fails the device access, not the connection', async (t) => {
  const h = await startServer(t);
  const c = await h.connect();
  // Mapped but not served by the client: it answers the server's DMA_READ with EFAULT.
  await c.dmaMap({ iova: 0x40000n, size: 0x1000n });
  await expectErrno(doorbell(c, 0x40000n, 0x40800n, 16), 'EFAULT');
  assert.equal((await c.deviceInfo()).numIrqs, 5);
});

test('DMA_READ/DMA_WRITE sent to the server are not commands it accepts: EINVAL', async (t) => {
  const h = await startServer(t);
  const c = await h.connect();
  await expectErrno(c.request(Command.DMA_READ, encodeDmaAccess(0n, 4n)), 'EINVAL');
  await expectErrno(c.request(Command.DMA_WRITE, [encodeDmaAccess(0n, 4n), Buffer.alloc(4)]), 'EINVAL');
});
