/**
 * Concepts: the mbochs vendor driver (samples/vfio-mdev/mbochs.c) as a umdev parent. Parent `mbochs` at
 * `virtual/mbochs/mbochs`, types `mbochs-small`, `mbochs-medium` and `mbochs-large` (4, 16 and 64 MiB of video
 * memory) drawing on one budget of `maxMbytes` MiB (256 by default, the sample's `max_mbytes`) owned by the parent
 * instance. `available_instances` is the MiB left over the type's MiB; a create that does not fit fails with
 * ENOSPC, as the sample's `mbochs_init_dev`. Each device has `vendor/memory` ("4 MB"), and each type a description.
 */
import { type MdevDevice, type MdevType, type ParentSpec, err, pciParent } from '../../sdk/index.js';
import { MbochsDevice } from './device.js';
import { MBOCHS_DEFAULT_MAX_MBYTES, MBOCHS_TYPES, type MbochsType } from './spec.js';

export { MbochsDevice } from './device.js';
export { MBOCHS_DEFAULT_MAX_MBYTES, MBOCHS_TYPES } from './spec.js';

function typeOf(type: MdevType): MbochsType {
  const t = MBOCHS_TYPES.find((m) => m.sysfsName === type.sysfsName);
  if (t === undefined) throw err('EINVAL', `mbochs has no type ${type.sysfsName}`);
  return t;
}

/** A fresh mbochs parent with its own video memory budget. Register it with `Core.registerParent`. */
export function createMbochsParent(options: { maxMbytes?: number } = {}): ParentSpec<MbochsDevice> {
  const total = options.maxMbytes ?? MBOCHS_DEFAULT_MAX_MBYTES;
  if (!Number.isInteger(total) || total < 0) throw err('EINVAL', `mbochs memory budget of ${total} MiB`);
  let available = total;
  const holding = new WeakSet<MbochsDevice>();
  return pciParent<MbochsDevice>({
    name: 'mbochs',
    devicePath: 'virtual/mbochs/mbochs',
    driverName: 'mbochs',
    types: MBOCHS_TYPES.map((t) => ({ sysfsName: t.sysfsName, prettyName: t.prettyName, description: () => `virtual display, ${t.mbytes} MB video memory` })),
    ops: {
      create(device: MdevDevice): MbochsDevice {
        const t = typeOf(device.type);
        if (available < t.mbytes) throw err('ENOSPC', `mbochs: ${t.mbytes} MiB of video memory wanted, ${available} MiB left`);
        available -= t.mbytes;
        const state = new MbochsDevice(t);
        holding.add(state);
        return state;
      },
      // The device's memory goes with it (`pciParent` disposes of it); the budget comes back here.
      remove(_device: MdevDevice, state: MbochsDevice): void {
        // Pairs with the reservation in create; the set makes a repeated remove harmless.
        if (holding.delete(state)) available += state.type.mbytes;
      },
      getAvailable(type: MdevType): number {
        return Math.floor(available / typeOf(type).mbytes);
      },
    },
    deviceAttributes: [
      {
        name: 'vendor',
        attrs: [{ name: 'memory', mode: 0o444, show: (device: MdevDevice) => `${typeOf(device.type).mbytes} MB\n` }],
      },
    ],
  });
}
