/**
 * DEVICE_RESET: the only command without a payload. A device that does not advertise VFIO_DEVICE_FLAGS_RESET is
 * answered EINVAL, as vfio-pci answers VFIO_DEVICE_RESET when reset does not work. DMA windows and eventfds stay:
 * a reset is the device's business, not the session's.
 */
import { err } from '../../errors.js';
import { DeviceFlags } from '../constants.js';
import type { Handler } from '../connection.js';

export const handleDeviceReset: Handler = (conn, msg) => {
  if (msg.body.length !== 0) throw err('EINVAL', `DEVICE_RESET carries ${msg.body.length} payload bytes`);
  if (!(conn.device.deviceFlags & DeviceFlags.RESET)) throw err('EINVAL', 'device does not support reset');
  const done = conn.device.reset();
  return done instanceof Promise ? done.then(() => undefined) : undefined;
};
