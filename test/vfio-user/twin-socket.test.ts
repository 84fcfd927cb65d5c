/**
 * Twin-socket mode (spec 0.9.2 "VFIO_USER_VERSION", twin_socket): a client that offers it gets the client end of a
 * fresh socket pair with the VERSION reply, and the server's DMA_READ/DMA_WRITE travel on it, never mixed into the
 * replies of the main socket. Without the offer nothing changes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeVersion } from '../../src/vfio-user/codec.js';
import { Command, HEADER_SIZE } from '../../src/vfio-user/constants.js';
import { native } from '../../src/native/index.js';
import { doorbell, startServer, until } from './fixtures.js';

const RAM = 0x40000n;

test('twin_socket: offered, set up with the VERSION reply, and the server\'s DMA goes on it', async (t) => {
  const h = await startServer(t);
  const c = await h.connect({ twinSocket: true });
  assert.equal(c.twinned, true);
  const ram = Buffer.alloc(0x2000);
  ram.fill(7, 0, 16);
  c.serveDma(RAM, ram);
  await c.dmaMap({ iova: RAM, size: 0x2000n });
  await doorbell(c, RAM, RAM + 0x1000n, 16);
  await until(() => h.device.bar0.readUInt32LE(0x20) === 1, 'the doorbell\'s DMA');
  assert.deepEqual([...ram.subarray(0x1000, 0x1010)], Array(16).fill(8), 'the DMA_READ and DMA_WRITE were answered');
  assert.deepEqual(c.serverCommands, { main: 0, twin: 2 }, 'both on the twin socket');
  // Everything else still works on the main socket meanwhile.
  assert.equal((await c.read(7, 0, 2)).readUInt16LE(0), 0x1b36);
});

test('twin_socket: a client that does not offer it gets none, and DMA comes on the main socket', async (t) => {
  const h = await startServer(t);
  const raw = native.connectUnix(h.path);
  const json = Buffer.from('{"capabilities":{"max_msg_fds":4}}\0');
  const m = Buffer.alloc(HEADER_SIZE + 4 + json.length);
  m.writeUInt16LE(Command.VERSION, 2);
  m.writeUInt32LE(m.length, 4);
  json.copy(m, HEADER_SIZE + 4);
  native.sendMsg(raw, [m]);
  const rx = Buffer.alloc(4096);
  let r: ReturnType<typeof native.recvMsg> = null;
  for (let i = 0; i < 200 && r === null; i++) {
    r = native.recvMsg(raw, rx, 0, rx.length, 4);
    if (r === null) await new Promise((res) => setTimeout(res, 5));
  }
  assert.ok(r !== null);
  assert.deepEqual(r.fds, [], 'no fd with the reply');
  const v = decodeVersion(rx.subarray(HEADER_SIZE, r.bytes));
  assert.equal((v.json?.capabilities as Record<string, unknown>).twin_socket, undefined);
  native.close(raw);
  await until(() => h.device.closes === 1, 'the raw session to end');

  const c = await h.connect();
  assert.equal(c.twinned, false);
  const ram = Buffer.alloc(0x2000);
  c.serveDma(RAM, ram);
  await c.dmaMap({ iova: RAM, size: 0x2000n });
  await doorbell(c, RAM, RAM + 0x1000n, 16);
  await until(() => h.device.bar0.readUInt32LE(0x20) === 1, 'the doorbell\'s DMA');
  assert.deepEqual(c.serverCommands, { main: 2, twin: 0 });
});

test('twin_socket: a client that hangs up the twin socket loses the session, and the device is free again', async (t) => {
  const h = await startServer(t);
  const c = await h.connect({ twinSocket: true });
  c.closeTwin();
  await c.whenClosed();
  await until(() => h.device.closes === 1, 'the session to end');
  const again = await h.connect();
  assert.equal((await again.read(7, 0, 2)).readUInt16LE(0), 0x1b36);
});
