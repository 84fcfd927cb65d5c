import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native } from '../../src/native/index.js';
import { BusyPoll } from '../../src/native/busy-poll.js';
import { DeviceChannel } from '../../src/fuse/device-channel.js';
import { Op } from '../../src/fuse/protocol.js';
import { waitFor } from '../process.js';


/** A fuse_in_header-shaped request (len, opcode, unique) and nothing else. */
function request(opcode: number, unique: number): Buffer {
  const b = Buffer.alloc(40);
  b.writeUInt32LE(40, 0);
  b.writeUInt32LE(opcode, 4);
  b.writeBigUInt64LE(BigInt(unique), 8);
  return b;
}

test('busy polling on the device: spins after answered requests and FORGETs, never while a reply is owed', async (t) => {
  // One end of a socketpair stands in for /dev/fuse: requests are written to the other end, replies come back there.
  const [dev, kernel] = native.socketpair();
  const spins: number[] = [];
  const io = {
    watch: native.watch,
    write: native.write,
    read: (fd: number, buf: Uint8Array, off: number, len: number, spinNs?: number) => {
      spins.push(spinNs ?? 0);
      return native.read(fd, buf, off, len, spinNs);
    },
  };
  // A clock that moves only while a request is handled (200 us each): every gap is 0, so the window grows at each
  // wake-up, and each request earns the credit (0.15 of its handling) that pays for the next spin.
  let now = 0;
  const channel = new DeviceChannel(dev, io, () => {}, () => {}, new BusyPoll(50_000, () => now));
  t.after(() => {
    channel.stop();
    native.close(dev);
    native.close(kernel);
  });
  const seen: number[] = [];
  let owed: number | undefined;
  channel.onRequest((req) => {
    now += 0.2;
    const unique = Number(req.readBigUInt64LE(8));
    seen.push(unique);
    if (req.readUInt32LE(4) === Op.FORGET) return;
    if (unique === 4) owed = unique; // answered later, as an async write is
    else channel.reply(Buffer.alloc(16));
  });
  const expect: Record<number, number[]> = { 1: [0, 0], 2: [0, 10_000], 3: [0, 20_000], 4: [0, 0] };
  for (const [unique, opcode] of [[1, Op.GETATTR], [2, Op.GETATTR], [3, Op.FORGET], [4, Op.WRITE]] as const) {
    const before = spins.length;
    const r = request(opcode, unique);
    native.write(kernel, r, 0, r.length);
    await waitFor(`request ${unique}`, () => seen.length === unique);
    assert.deepEqual(spins.slice(before), expect[unique], `reads around request ${unique}`);
  }
  assert.equal(owed, 4);
});
