import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fstatSync } from 'node:fs';
import { native } from '../../src/native/index.js';
import { encodeHeader } from '../../src/vfio-user/codec.js';
import { type Message, SocketTransport } from '../../src/vfio-user/transport.js';
import { BusyPoll } from '../../src/native/busy-poll.js';

/** A transport on one end of a real socketpair and the raw other end. */
function pair(t: { after(fn: () => void): void }, options?: { maxMsgSize?: number }) {
  const [a, b] = native.socketpair();
  const tr = new SocketTransport(a, native, options);
  const got: Message[] = [];
  let closed: { reason: unknown } | undefined;
  tr.onMessage((m) => got.push(m));
  tr.onClose((reason) => (closed = { reason }));
  t.after(() => {
    tr.close();
    try {
      native.close(b);
    } catch {
      // closed by the test
    }
    for (const m of got) for (const fd of m.fds) if (fd >= 0) native.close(fd);
  });
  return { tr, raw: b, got, closed: () => closed };
}

function frame(msgId: number, cmd: number, body: Buffer): Buffer {
  return Buffer.concat([encodeHeader({ msgId, cmd, size: 16 + body.length, flags: 0, errorNo: 0 }), body]);
}

const tick = () => new Promise((r) => setTimeout(r, 5));
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (cond()) return;
    await tick();
  }
  assert.fail(`timed out waiting for ${what}`);
}

test('reassembles a message split across many writes, and several messages in one write', async (t) => {
  const { raw, got } = pair(t);
  const m1 = frame(1, 9, Buffer.from('hello world, split'));
  for (let i = 0; i < m1.length; i += 5) {
    native.write(raw, m1, i, Math.min(5, m1.length - i));
    await tick();
  }
  await until(() => got.length === 1, 'first message');
  assert.equal(got[0]!.header.msgId, 1);
  assert.equal(got[0]!.body.toString(), 'hello world, split');
  const batch = Buffer.concat([frame(2, 4, Buffer.alloc(16, 2)), frame(3, 13, Buffer.alloc(0)), frame(4, 4, Buffer.alloc(16, 4))]);
  native.write(raw, batch, 0, batch.length);
  await until(() => got.length === 4, 'batch');
  assert.deepEqual(got.map((m) => m.header.msgId), [1, 2, 3, 4]);
  assert.equal(got[2]!.body.length, 0);
  assert.equal(got[3]!.body[0], 4);
});

test('fds attach to the message they were sent with, even after a partial one', async (t) => {
  const { raw, got } = pair(t);
  const [x, y] = native.socketpair();
  t.after(() => {
    native.close(x);
    native.close(y);
  });
  const m1 = frame(1, 9, Buffer.alloc(40, 1));
  const m2 = frame(2, 2, Buffer.alloc(32, 2));
  native.write(raw, m1, 0, 20); // half of message 1
  await tick();
  // The rest of message 1 plus message 2, with the fd sent on message 2's own sendmsg.
  native.write(raw, m1, 20, m1.length - 20);
  native.sendMsg(raw, [m2], [x]);
  await until(() => got.length === 2, 'two messages');
  assert.equal(got[0]!.fds.length, 0, 'message 1 has no fd');
  assert.equal(got[1]!.fds.length, 1, 'message 2 carries the fd');
});

/** A memfd whose size names it, so a received fd can be told apart from the others (fstat). */
function tagFd(t: { after(fn: () => void): void }, size: number): number {
  const fd = native.memfdCreate(`tag-${size}`, size);
  t.after(() => native.close(fd));
  return fd;
}

/** The tag (memfd size) of each fd a message carried. */
const tags = (m: Message): number[] => m.fds.map((fd) => fstatSync(fd).size);

// Every write below happens before the first await, so the transport's first recvmsg sees them all queued at once,
// as the server sees a burst QEMU sends without waiting for replies.

test('a burst of fd-less messages then one with an fd: the fd goes to its own message, not the first', async (t) => {
  for (const n of [1, 3]) {
    const { raw, got } = pair(t);
    for (let i = 0; i < n; i++) native.write(raw, frame(i, 3, Buffer.alloc(24, i)), 0, 40);
    native.sendMsg(raw, [frame(n, 2, Buffer.alloc(32, 9))], [tagFd(t, 4096 * (n + 1))]);
    native.write(raw, frame(n + 1, 3, Buffer.alloc(24)), 0, 40);
    await until(() => got.length === n + 2, `${n + 2} messages`);
    assert.deepEqual(got.map((m) => m.header.msgId), Array.from({ length: n + 2 }, (_, i) => i));
    assert.deepEqual(got.map(tags), [...Array.from({ length: n }, () => []), [4096 * (n + 1)], []], `burst of ${n}`);
  }
});

test('DMA_UNMAP, DMA_MAP(fd A), DMA_MAP(fd B) back to back: each map gets its own fd', async (t) => {
  const { raw, got } = pair(t);
  native.write(raw, frame(1, 3, Buffer.alloc(24)), 0, 40);
  native.sendMsg(raw, [frame(2, 2, Buffer.alloc(32))], [tagFd(t, 0x1000)]);
  native.sendMsg(raw, [frame(3, 2, Buffer.alloc(32))], [tagFd(t, 0x2000)]);
  await until(() => got.length === 3, 'three messages');
  assert.deepEqual(got.map(tags), [[], [0x1000], [0x2000]]);
});

test('fds on a message split over two sendmsg calls (fd on the first) after an fd-less message', async (t) => {
  const { raw, got } = pair(t);
  const m2 = frame(2, 2, Buffer.alloc(64, 2));
  native.write(raw, frame(1, 3, Buffer.alloc(24)), 0, 40);
  native.sendMsg(raw, [m2.subarray(0, 20)], [tagFd(t, 0x3000)]);
  native.write(raw, m2, 20, m2.length - 20);
  native.write(raw, frame(3, 3, Buffer.alloc(24)), 0, 40);
  await until(() => got.length === 3, 'three messages');
  assert.deepEqual(got.map(tags), [[], [0x3000], []]);
  assert.equal(got[1]!.body[63], 2);
});

test('fds on a message bigger than the receive buffer, queued behind an fd-less one', async (t) => {
  const { raw, got } = pair(t);
  const big = frame(2, 2, Buffer.alloc(100_000, 0x5a));
  native.write(raw, frame(1, 3, Buffer.alloc(24)), 0, 40);
  // One sendmsg: the fd rides on the first skb, and the first recvmsg (64 KiB) ends inside this message.
  let off = native.sendMsg(raw, [big], [tagFd(t, 0x4000)]);
  assert.ok(off > 0, 'the first part of the big message was queued');
  while (off < big.length) {
    const n = native.write(raw, big, off, big.length - off);
    if (n > 0) off += n;
    else await tick();
  }
  await until(() => got.length === 2, 'two messages');
  assert.deepEqual(got.map(tags), [[], [0x4000]]);
  assert.equal(got[1]!.body.length, 100_000);
});

test('a message larger than the receive buffer grows it', async (t) => {
  const { raw, got } = pair(t);
  const big = frame(7, 10, Buffer.alloc(200_000, 0xab));
  let off = 0;
  while (off < big.length) {
    const n = native.write(raw, big, off, big.length - off);
    if (n > 0) off += n;
    else await tick();
  }
  await until(() => got.length === 1, 'big message');
  assert.equal(got[0]!.body.length, 200_000);
  assert.equal(got[0]!.body[199_999], 0xab);
});

test('sends queue in order when the socket is full and drain when it empties', async (t) => {
  const { tr, raw } = pair(t);
  const payload = Buffer.alloc(60_000, 7);
  for (let i = 0; i < 20; i++) tr.send({ msgId: i, cmd: 10, flags: 0, errorNo: 0 }, payload);
  // Read everything back from the raw end and check order and sizes.
  const total = 20 * (16 + 60_000);
  const buf = Buffer.alloc(total);
  let have = 0;
  for (let spins = 0; have < total && spins < 2000; spins++) {
    const n = native.read(raw, buf, have, total - have);
    if (n > 0) have += n;
    else await tick();
  }
  assert.equal(have, total);
  for (let i = 0; i < 20; i++) {
    const at = i * (16 + 60_000);
    assert.equal(buf.readUInt16LE(at), i, `message ${i} in order`);
    assert.equal(buf.readUInt32LE(at + 4), 16 + 60_000);
  }
});

test('framing errors: msg_size below 16 or absurd is delivered as malformed, then the transport closes', async (t) => {
  for (const size of [8, 0x7fffffff]) {
    const { raw, got, closed } = pair(t, { maxMsgSize: 1 << 20 });
    const h = encodeHeader({ msgId: 5, cmd: 9, size, flags: 0, errorNo: 0 });
    native.write(raw, h, 0, 16);
    await until(() => closed() !== undefined, 'close');
    assert.equal(got.length, 1);
    assert.match(got[0]!.malformed ?? '', /msg_size/);
    assert.equal((closed()!.reason as { errno: string }).errno, 'EPROTO');
  }
});

test('end of stream closes without an error; send after close is ENOTCONN', async (t) => {
  const { tr, raw, closed } = pair(t);
  native.close(raw);
  await until(() => closed() !== undefined, 'close');
  assert.equal(closed()!.reason, undefined);
  assert.throws(() => tr.send({ msgId: 1, cmd: 1, flags: 0, errorNo: 0 }), { errno: 'ENOTCONN' });
});

test('busy polling: after an answered message the next read waits within the window; never while an answer is pending', async (t) => {
  const [a, b] = native.socketpair();
  const spins: number[] = [];
  const io = { ...native, recvMsgInto: (fd: number, buf: Uint8Array, off: number, len: number, fds: Int32Array, spinNs?: number) => {
    spins.push(spinNs ?? 0);
    return native.recvMsgInto(fd, buf, off, len, fds, spinNs);
  } };
  const tr = new SocketTransport(a, io);
  t.after(() => {
    tr.close();
    native.close(b);
  });
  // A clock that moves only while a message is handled (200 us each): every gap is 0, so the window grows at each
  // wake-up and the budget never runs out, and each message earns the credit (0.15 of it) that pays for a spin.
  let now = 0;
  const poll = new BusyPoll(50_000, () => now);
  let pending = false;
  tr.busyPoll(poll, () => !pending);
  const got: number[] = [];
  tr.onMessage((m) => {
    now += 0.2;
    got.push(m.header.msgId);
    if (m.header.msgId !== 3) tr.send({ msgId: m.header.msgId, cmd: m.header.cmd, flags: 1, errorNo: 0 });
    else pending = true; // its answer waits on something: the transport must go back to the loop
  });
  const reply = Buffer.alloc(16);
  for (const id of [1, 2, 3]) {
    const spinsBefore = spins.length;
    const m = frame(id, 9, Buffer.alloc(16));
    native.write(b, m, 0, m.length);
    await until(() => got.length === id, `message ${id}`);
    if (id !== 3) {
      await until(() => native.read(b, reply, 0, 16) === 16, `reply ${id}`);
      assert.equal(reply.readUInt16LE(0), id);
    }
    const after = spins.slice(spinsBefore);
    assert.equal(after[0], 0, 'the read the loop asked for does not spin');
    if (id === 1) assert.deepEqual(after, [0], 'the window opens only once a gap has been seen');
    if (id === 2) assert.deepEqual(after, [0, 10_000], 'answered: the next read spun for the window, found nothing, went idle');
    if (id === 3) assert.deepEqual(after, [0], 'an answer still pending: no spin');
  }
  assert.equal(poll.windowNs, 20_000);
});
