/**
 * A toy vendor driver for daemon tests: two types over a pool of 4 instances, start/stop hooks, a device with
 * nothing but an identity and a reset (the smallest a contract device can be), and one writable vendor attribute
 * (`vendor/knob`, digits only) so autostart's attribute writes can succeed and fail.
 */
import { type PciParent, type Placement, PciDevice, err, pciParent } from '../../src/sdk/index.js';
import type { DriverCatalog } from '../../src/daemon/config.js';
import { string } from '../../src/validate.js';

/** One toy device. */
export class ToyState extends PciDevice {
  knob = '0';
  resets = 0;

  constructor() {
    super({
      identity: { vendorId: 0x1b36, deviceId: 0x0006, classCode: 0xff0000 },
      reset: () => {
        this.resets++;
      },
    });
  }
}

/** A fresh toy parent spec (each call has its own state). */
export function toyParent(name = 'toy', placement?: Placement): PciParent<ToyState> {
  return pciParent<ToyState>(
    {
    name,
    devicePath: `virtual/toy/${name}`,
    driverName: 'toy',
    maxInstances: 4,
    types: [
      { sysfsName: 'small', prettyName: 'Small toy' },
      { sysfsName: 'big', description: () => 'a big one' },
    ],
    device: () => new ToyState(),
    start: () => undefined,
    stop: () => undefined,
    attributes: [
      {
        name: 'vendor',
        attrs: [
          {
            name: 'knob',
            mode: 0o644,
            show: (s) => `${s.knob}\n`,
            store: (s, v) => {
              if (!/^\d+\n?$/.test(v)) throw err('EINVAL', 'knob takes digits');
              s.knob = v.trim();
            },
          },
        ],
      },
    ],
    },
    placement,
  );
}

/** A catalog with the toy driver (`{"driver":"toy","name":"toy0"}`). */
export function toyCatalog(): DriverCatalog {
  return {
    toy: {
      keys: ['name'],
      validate: (e, p, issues) => {
        if (e.name !== undefined) string(e.name, `${p}.name`, issues, { nonEmpty: true });
      },
      create: (o, placement) => toyParent(typeof o.name === 'string' ? o.name : 'toy', placement),
    },
  };
}
