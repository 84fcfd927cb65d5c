/**
 * DEVICE_GET_IRQ_INFO and DEVICE_SET_IRQS. SET_IRQS is validated against `irqInfo(index)` before the device sees it,
 * with the kernel's rules (`vfio_set_irqs_validate_and_prepare`, libvfio-user `dev_set_irqs_validate`), all EINVAL:
 * unknown flag bits, not exactly one DATA and one ACTION, start/count outside the index, count 0 other than
 * TRIGGER|DATA_NONE (disable), MASK/UNMASK on an index that is not MASKABLE, eventfds on an index without EVENTFD,
 * DATA_BOOL without count bytes, DATA_EVENTFD with a number of fds other than count or none (none = de-assign).
 * QEMU sends argsz = 20 with fds attached, so argsz is not required to cover them.
 */
import { err } from '../../errors.js';
import type { SetIrqsRequest } from '../../vfio/device.js';
import { decodeIrqSet, decodeQuad, encodeQuad } from '../codec.js';
import { Command, IrqInfoFlags, IrqSetFlags as F, Size } from '../constants.js';
import type { Connection, Handler } from '../connection.js';

function irqInfo(conn: Connection, index: number) {
  if (index >= conn.device.numIrqs) throw err('EINVAL', `no IRQ index ${index} (device has ${conn.device.numIrqs})`);
  return conn.device.irqInfo(index);
}

export const handleGetIrqInfo: Handler = (conn, msg) => {
  const q = decodeQuad(Command.DEVICE_GET_IRQ_INFO, msg.body);
  const info = irqInfo(conn, q.a);
  return { payload: encodeQuad({ argsz: Size.IRQ_INFO, flags: info.flags, a: q.a, b: info.count }) };
};

const ONE_OF = (v: number, ...allowed: number[]): boolean => allowed.includes(v);

export const handleSetIrqs: Handler = (conn, msg) => {
  const s = decodeIrqSet(msg.body);
  if (s.flags & ~(F.DATA_TYPE_MASK | F.ACTION_TYPE_MASK)) throw err('EINVAL', `SET_IRQS: unknown flags 0x${s.flags.toString(16)}`);
  const data = s.flags & F.DATA_TYPE_MASK;
  const action = s.flags & F.ACTION_TYPE_MASK;
  if (!ONE_OF(data, F.DATA_NONE, F.DATA_BOOL, F.DATA_EVENTFD)) throw err('EINVAL', 'SET_IRQS: need exactly one DATA type');
  if (!ONE_OF(action, F.ACTION_MASK, F.ACTION_UNMASK, F.ACTION_TRIGGER)) throw err('EINVAL', 'SET_IRQS: need exactly one ACTION');
  const info = irqInfo(conn, s.index);
  if (s.count === 0) {
    if (action !== F.ACTION_TRIGGER || data !== F.DATA_NONE) throw err('EINVAL', 'SET_IRQS: count 0 is only TRIGGER|DATA_NONE');
    if (s.start !== 0) throw err('EINVAL', 'SET_IRQS: disable must have start 0');
  } else if (s.start >= info.count || s.start + s.count > info.count) {
    throw err('EINVAL', `SET_IRQS: ${s.start}+${s.count} outside index ${s.index} (count ${info.count})`);
  }
  if (action !== F.ACTION_TRIGGER && !(info.flags & IrqInfoFlags.MASKABLE)) {
    throw err('EINVAL', `SET_IRQS: index ${s.index} is not maskable`);
  }
  const request: { -readonly [K in keyof SetIrqsRequest]: SetIrqsRequest[K] } = {
    index: s.index,
    flags: s.flags,
    start: s.start,
    count: s.count,
  };
  if (data === F.DATA_EVENTFD) {
    if (!(info.flags & IrqInfoFlags.EVENTFD)) throw err('EINVAL', `SET_IRQS: index ${s.index} does not take eventfds`);
    if (msg.fds.length !== 0 && msg.fds.length !== s.count) {
      throw err('EINVAL', `SET_IRQS: ${msg.fds.length} fds for count ${s.count}`);
    }
    // Ownership passes to the device: take the fds out of the message so they are not closed after the reply.
    request.fds = msg.fds.length === 0 ? new Array<number>(s.count).fill(-1) : msg.fds.splice(0).map((fd) => fd);
  } else {
    if (msg.fds.length > 0) throw err('EINVAL', `SET_IRQS: ${msg.fds.length} fds without DATA_EVENTFD`);
    if (data === F.DATA_BOOL) {
      if (s.data.length < s.count) throw err('EINVAL', `SET_IRQS: DATA_BOOL needs ${s.count} bytes, got ${s.data.length}`);
      request.bools = Array.from(s.data.subarray(0, s.count), (b) => b !== 0);
    }
  }
  conn.device.setIrqs(request);
  return undefined;
};
