/**
 * Concepts: the mbochs vendor driver (samples/vfio-mdev/mbochs.c) as a umdev parent. Parent `mbochs` at
 * `virtual/mbochs/mbochs`, types `mbochs-small`, `mbochs-medium` and `mbochs-large` (4, 16 and 64 MiB of video
 * memory) drawing on one budget of `maxMbytes` MiB (256 by default, the sample's `max_mbytes`) owned by the parent
 * instance. `available_instances` is the MiB left over the type's MiB; a create that does not fit fails with
 * ENOSPC, as the sample's `mbochs_init_dev`. Each device has `vendor/memory` ("4 MB"), and each type a description.
 */
import { err, type MdevDevice, pciParent, type PciParent, type Placement, vendorDriver } from '../../sdk/index.js';
import { MbochsDevice } from './device.js';
import { MBOCHS_DEFAULT_MAX_MBYTES, MBOCHS_TYPES, type MbochsType } from './spec.js';

export { MbochsDevice } from './device.js';
export { MBOCHS_DEFAULT_MAX_MBYTES, MBOCHS_TYPES } from './spec.js';

function typeOf(type: { readonly sysfsName: string }): MbochsType {
  const t = MBOCHS_TYPES.find((m) => m.sysfsName === type.sysfsName);
  if (t === undefined) throw err('EINVAL', `mbochs has no type ${type.sysfsName}`);
  return t;
}

/** A fresh mbochs parent with its own video memory budget. Register it with `Core.registerParent`. */
export function createMbochsParent(options: { maxMbytes?: number } = {}, placement?: Placement): PciParent<MbochsDevice> {
  const total = options.maxMbytes ?? MBOCHS_DEFAULT_MAX_MBYTES;
  if (!Number.isInteger(total) || total < 0) throw err('EINVAL', `mbochs memory budget of ${total} MiB`);
  return pciParent<MbochsDevice>(
    {
      name: 'mbochs',
      devicePath: 'virtual/mbochs/mbochs',
      driverName: 'mbochs',
      types: MBOCHS_TYPES.map((t) => ({ sysfsName: t.sysfsName, prettyName: t.prettyName, description: () => `virtual display, ${t.mbytes} MB video memory` })),
      // The device's memory goes with it (the instance is disposed of); the budget comes back to the pool.
      pool: { size: total, cost: (type) => typeOf(type).mbytes, full: (want, left) => `mbochs: ${want} MiB of video memory wanted, ${left} MiB left` },
      device: ({ type }) => new MbochsDevice(typeOf({ sysfsName: type })),
      attributes: [{ name: 'vendor', attrs: [{ name: 'memory', mode: 0o444, record: (device: MdevDevice) => `${typeOf(device.type).mbytes} MB\n` }] }],
    },
    placement,
  );
}

/** mbochs for umdevd: `max_mbytes`, named after the sample's module parameter, MiB of video memory its devices share. */
export const mbochsDriver = vendorDriver({
  options: { max_mbytes: { kind: 'integer', min: 1, max: 1 << 20, default: MBOCHS_DEFAULT_MAX_MBYTES } },
  create: (o, placement) => createMbochsParent({ maxMbytes: o.max_mbytes }, placement),
});
