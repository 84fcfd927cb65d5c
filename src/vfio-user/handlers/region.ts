/**
 * REGION_READ, REGION_WRITE and REGION_WRITE_MULTI: trapped accesses to device regions, bounds-checked here against
 * `regionInfo(index).size` before the device sees them (libvfio-user `is_valid_region_access`): count above
 * max_data_xfer_size, a write whose data length differs from count, a bad index or an out-of-range span are EINVAL.
 * A zero-length access is answered with no payload at all. When the device answers synchronously so does the
 * server, in the same tick (the latency hot path).
 */
import { err } from '../../errors.js';
import { decodeRegionAccess, decodeWriteMulti, encodeRegionAccess } from '../codec.js';
import { Command, RegionFlags, SERVER_MAX_DATA_XFER_SIZE, Size } from '../constants.js';
import type { Connection, Handler, Reply } from '../connection.js';

function check(conn: Connection, region: number, offset: bigint, count: number, write: boolean): void {
  if (count > SERVER_MAX_DATA_XFER_SIZE) throw err('EINVAL', `access of ${count} bytes exceeds max_data_xfer_size`);
  const r = conn.region(region);
  if (offset + BigInt(count) > r.size) {
    throw err('EINVAL', `region ${region} access 0x${offset.toString(16)}+${count} is beyond its size 0x${r.size.toString(16)}`);
  }
  const need = write ? RegionFlags.WRITE : RegionFlags.READ;
  if (!(r.flags & need)) throw err('EINVAL', `region ${region} is not ${write ? 'writable' : 'readable'}`);
}

export const handleRegionRead: Handler = (conn, msg) => {
  // Decoded field by field (no intermediate object or data view): this is the trapped-MMIO hot path.
  const body = msg.body;
  if (body.length < Size.REGION_ACCESS) throw err('EINVAL', `REGION_READ: payload is ${body.length} bytes, needs ${Size.REGION_ACCESS}`);
  const offset = body.readBigUInt64LE(0);
  const region = body.readUInt32LE(8);
  const count = body.readUInt32LE(12);
  check(conn, region, offset, count, false);
  if (count === 0) return undefined;
  // The reply's access header repeats the request's; reuse its bytes when the request is exactly that.
  const head = body.length === Size.REGION_ACCESS ? body : encodeRegionAccess(offset, region, count);
  const data = conn.device.read(region, offset, count);
  return data instanceof Promise ? data.then((d) => readReply(head, d, count)) : readReply(head, data, count);
};

function readReply(head: Buffer, data: Buffer, count: number): Reply {
  if (data.length !== count) throw err('EIO', `device returned ${data.length} bytes for a ${count}-byte read`);
  return { payload: [head, data] };
}

export const handleRegionWrite: Handler = (conn, msg) => {
  const a = decodeRegionAccess(Command.REGION_WRITE, msg.body);
  if (a.data.length !== a.count) throw err('EINVAL', `REGION_WRITE count ${a.count} but ${a.data.length} data bytes`);
  check(conn, a.region, a.offset, a.count, true);
  if (a.count === 0) return undefined;
  const head = encodeRegionAccess(a.offset, a.region, a.count);
  const done = conn.device.write(a.region, a.offset, a.data);
  return done instanceof Promise ? done.then(() => ({ payload: head })) : { payload: head };
};

export const handleRegionWriteMulti: Handler = async (conn, msg) => {
  const writes = decodeWriteMulti(msg.body);
  // Validate all before writing any, so a bad entry leaves the device untouched.
  for (const w of writes) check(conn, w.region, w.offset, w.count, true);
  for (const w of writes) await conn.device.write(w.region, w.offset, w.data);
  const reply = Buffer.alloc(Size.WRITE_MULTI_HEAD);
  reply.writeBigUInt64LE(BigInt(writes.length), 0);
  return { payload: reply };
};
