/**
 * Concepts: a parent whose devices are `PciDevice`s, the usual shape of a vendor driver. The vendor gives the parent
 * spec without what the device declaration already says: the device API is `vfio-pci`, the sysfs `reset` runs the
 * device's declared reset (ENOTTY when it has none), and removal disposes of the device (its eventfds and memfds)
 * after the vendor's own `remove`, if any. `create` must return a `PciDevice`: anything else fails the create with
 * `EINVAL` naming the parent, at once, rather than leaving a device nobody serves.
 */
import { err } from '../errors.js';
import type { MdevDevice, ParentOps, ParentSpec } from '../core/types.js';
import { VFIO_DEVICE_API, VFIO_DEVICE_FLAGS } from '../vfio/constants.js';
import { PciDevice, requirePciDevice } from '../vfio/pci-device.js';

/** What a vendor writes for a PCI parent: a `ParentSpec` minus what the device contract derives. */
export interface PciParentSpec<D extends PciDevice> extends Omit<ParentSpec<D>, 'deviceApi' | 'ops'> {
  readonly ops: Omit<ParentOps<D>, 'remove' | 'reset'> & {
    /** Give back what `create` took (pool slots); the device is disposed of afterwards. */
    remove?(device: MdevDevice, state: D): void | Promise<void>;
  };
}

/** The `ParentSpec` to register for a parent of `PciDevice`s. */
export function pciParent<D extends PciDevice>(spec: PciParentSpec<D>): ParentSpec<D> {
  const { ops } = spec;
  return {
    ...spec,
    deviceApi: VFIO_DEVICE_API.PCI,
    ops: {
      ...ops,
      // Synchronous when the vendor's create is, so its errors are thrown as they were.
      create: (device, params) => {
        const made = ops.create(device, params);
        const check = (state: D): D => {
          if (!(state instanceof PciDevice)) requirePciDevice(state, `parent ${spec.name}`);
          return state;
        };
        return made instanceof Promise ? made.then(check) : check(made);
      },
      remove: async (device, state) => {
        try {
          await ops.remove?.(device, state);
        } finally {
          state.dispose();
        }
      },
      reset: async (_device, state) => {
        if (!(state.deviceFlags & VFIO_DEVICE_FLAGS.RESET)) throw err('ENOTTY', `${spec.name} devices have no reset`);
        await state.reset();
      },
    },
  };
}
