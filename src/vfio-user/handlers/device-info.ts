/**
 * DEVICE_GET_INFO, DEVICE_GET_REGION_INFO and DEVICE_GET_REGION_IO_FDS: what the device looks like. `argsz` below
 * the fixed reply is EINVAL; a region whose capability chain does not fit the client's `argsz` is answered with the
 * fixed part only and the full size in `argsz`, so the client can retry (spec "Message sizes"; libvfio-user).
 */
import { err } from '../../errors.js';
import { decodeQuad, encodeQuad, encodeRegionInfo } from '../codec.js';
import { Command, RegionFlags, Size } from '../constants.js';
import type { Handler } from '../connection.js';

export const handleDeviceGetInfo: Handler = (conn, msg) => {
  decodeQuad(Command.DEVICE_GET_INFO, msg.body);
  const d = conn.device;
  return { payload: encodeQuad({ argsz: Size.DEVICE_INFO, flags: d.deviceFlags, a: d.numRegions, b: d.numIrqs }) };
};

export const handleGetRegionInfo: Handler = (conn, msg) => {
  if (msg.body.length < Size.REGION_INFO) throw err('EINVAL', `DEVICE_GET_REGION_INFO: payload is ${msg.body.length} bytes, needs ${Size.REGION_INFO}`);
  const argsz = msg.body.readUInt32LE(0);
  const index = msg.body.readUInt32LE(8);
  if (argsz < Size.REGION_INFO) throw err('EINVAL', `DEVICE_GET_REGION_INFO: argsz ${argsz} is below ${Size.REGION_INFO}`);
  const r = conn.region(index);
  // A client that takes no fds (max_msg_fds 0) is offered no mapping: everything goes through REGION_READ/WRITE.
  const mmapable = r.fd !== undefined && r.size > 0n && conn.clientCaps.maxMsgFds > 0;
  const flags = (r.flags & (RegionFlags.READ | RegionFlags.WRITE)) | (mmapable ? RegionFlags.MMAP : 0);
  const sparse = mmapable && r.sparse && r.sparse.length > 0 ? r.sparse : undefined;
  const { payload, capsIncluded } = encodeRegionInfo({ flags, index, size: r.size, offset: r.fdOffset ?? 0n, sparse }, argsz);
  // The fd travels only with a reply the client can use in full (libvfio-user attaches it with the caps).
  const withFd = mmapable && (sparse === undefined || capsIncluded);
  return { payload, fds: withFd ? [r.fd!] : undefined };
};

export const handleGetRegionIoFds: Handler = (conn, msg) => {
  const q = decodeQuad(Command.DEVICE_GET_REGION_IO_FDS, msg.body);
  if (q.flags !== 0 || q.b !== 0) throw err('EINVAL', 'DEVICE_GET_REGION_IO_FDS: flags and count must be zero');
  const r = conn.region(q.a);
  if (r.size === 0n || !(r.flags & (RegionFlags.READ | RegionFlags.WRITE))) {
    throw err('EINVAL', `DEVICE_GET_REGION_IO_FDS: region ${q.a} is not implemented`);
  }
  // No region offers ioeventfds yet: zero sub-regions and no fds.
  return { payload: encodeQuad({ argsz: Size.REGION_IO_FDS, flags: 0, a: q.a, b: 0 }) };
};
