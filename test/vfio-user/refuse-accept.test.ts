/**
 * Connection storms: refused second clients are cheap and bounded, and a failing accept (EMFILE) backs off
 * instead of spinning the loop and the log.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { err } from '../../src/errors.js';
import { native } from '../../src/native/index.js';
import { Command, Flags } from '../../src/vfio-user/constants.js';
import { VfioUserClient } from '../../src/vfio-user/client.js';
import { startServer, until } from './fixtures.js';
import { drain, frame, rawConnect, sendSome } from './raw.js';

test('refused clients: at most 16 open in the daemon, the rest closed at once, each closed after the deadline', async (t) => {
  const h = await startServer(t, { refuseTimeoutMs: 200 });
  const first = await h.connect();
  const fds: number[] = [];
  t.after(() => fds.forEach((fd) => native.close(fd)));
  const rss0 = process.memoryUsage().rss;
  let most = 0;
  for (let i = 0; i < 300; i++) {
    fds.push(rawConnect(h.path));
    // A header that announces 4 GiB and a body that never comes: the refusal reads no more than the header.
    sendSome(fds.at(-1)!, frame(Command.VERSION, i, Buffer.alloc(0)).fill(0xff, 4, 8));
    if (i % 10 === 0) await new Promise((r) => setImmediate(r));
    most = Math.max(most, h.driver.refusedOpen);
  }
  await until(() => fds.every((fd) => drain(fd) !== 0), 'every refused client answered or closed');
  assert.ok(most <= 16, `${most} refused clients were open at once`);
  const grown = (process.memoryUsage().rss - rss0) / 2 ** 20;
  assert.ok(grown < 64, `RSS grew ${grown.toFixed(0)} MiB for 300 refused clients`);
  await until(() => h.driver.refusedOpen === 0, 'the refusals to end');
  assert.equal((await first.deviceInfo()).numRegions, 9, 'the first client is still served');
});

test('a refused client announcing a huge first message gets EBUSY from the header alone', async (t) => {
  const h = await startServer(t);
  await h.connect();
  const fd = rawConnect(h.path);
  t.after(() => native.close(fd));
  const head = frame(Command.VERSION, 7);
  head.writeUInt32LE(1 << 20, 4);
  sendSome(fd, head);
  const reply = Buffer.alloc(16);
  await until(() => native.recvMsg(fd, reply, 0, 16, 0) !== null, 'the EBUSY reply');
  assert.equal(reply.readUInt16LE(0), 7);
  assert.equal(reply.readUInt32LE(8), Flags.TYPE_REPLY | Flags.ERROR);
  assert.equal(reply.readUInt32LE(12), 16, 'EBUSY');
});

test('accept failing with EMFILE backs off (100 ms doubling to 1 s) and logs at a limited rate; then serves', async (t) => {
  let failing = true;
  let calls = 0;
  const io = {
    ...native,
    accept: (fd: number): number => {
      calls++;
      if (failing) throw err('EMFILE', 'accept4: Too many open files (EMFILE)');
      return native.accept(fd);
    },
  };
  const h = await startServer(t, { native: io });
  const pending = VfioUserClient.connect(h.path);
  await new Promise((r) => setTimeout(r, 1000));
  // Unthrottled, a readable listener whose accept fails is retried on every loop turn: hundreds of thousands.
  assert.ok(calls >= 3 && calls <= 8, `${calls} accept calls in 1 s`);
  const lines = h.logs.filter((l) => l.includes('accept failed'));
  assert.ok(lines.length >= 3 && lines.length <= 5, `${lines.length} accept failure lines`);
  failing = false;
  const c = await pending;
  assert.equal((await c.deviceInfo()).numRegions, 9, 'served once accept works again');
  await c.close();
});
