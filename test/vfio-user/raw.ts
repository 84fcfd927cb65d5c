/**
 * A raw vfio-user peer for hostile-client tests: frames built by hand and written with sendmsg on a real unix
 * socket, replies never read unless the test asks. The `VfioUserClient` is too well-behaved for that.
 */
import { native } from '../../src/native/index.js';
import { Command, Flags, HEADER_SIZE } from '../../src/vfio-user/constants.js';

/** One command frame: header + body. */
export function frame(cmd: number, msgId: number, body: Buffer = Buffer.alloc(0), flags: number = Flags.TYPE_COMMAND): Buffer {
  const h = Buffer.alloc(HEADER_SIZE);
  h.writeUInt16LE(msgId & 0xffff, 0);
  h.writeUInt16LE(cmd, 2);
  h.writeUInt32LE(HEADER_SIZE + body.length, 4);
  h.writeUInt32LE(flags, 8);
  return Buffer.concat([h, body]);
}

/** VERSION 0.0 with an empty capabilities object. */
export function versionFrame(msgId = 0): Buffer {
  const body = Buffer.concat([Buffer.from([0, 0, 0, 0]), Buffer.from('{"capabilities":{}}\0')]);
  return frame(Command.VERSION, msgId, body);
}

/** REGION_READ of `count` bytes at `offset` of `region`. */
export function regionReadFrame(msgId: number, region: number, offset: number, count: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeBigUInt64LE(BigInt(offset), 0);
  b.writeUInt32LE(region, 8);
  b.writeUInt32LE(count, 12);
  return frame(Command.REGION_READ, msgId, b);
}

/** A connected, non-blocking raw socket to `path`; the caller closes it. */
export function rawConnect(path: string): number {
  return native.connectUnix(path);
}

/** Write as much of `data` as the socket takes now; returns the bytes taken (0 when it is full). */
export function sendSome(fd: number, data: Buffer, fds?: number[]): number {
  const n = native.sendMsg(fd, [data], fds);
  return n < 0 ? 0 : n;
}

/** Read and discard whatever is waiting; returns the byte count, -1 at end of stream (or a reset). */
export function drain(fd: number): number {
  const buf = Buffer.allocUnsafe(1 << 20);
  let total = 0;
  for (;;) {
    let r: ReturnType<typeof native.recvMsg>;
    try {
      r = native.recvMsg(fd, buf, 0, buf.length, 64);
    } catch (e) {
      if ((e as { errno?: string }).errno === 'ECONNRESET') return -1;
      throw e;
    }
    if (r === null) return total;
    for (const f of r.fds) native.close(f);
    if (r.bytes === 0) return total === 0 ? -1 : total;
    total += r.bytes;
  }
}
