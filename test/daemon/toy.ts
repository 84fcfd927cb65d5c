/**
 * A toy vendor driver for daemon tests: two types over a pool of 4 instances, start/stop/reset hooks, and one
 * writable vendor attribute (`vendor/knob`, digits only) so autostart's attribute writes can succeed and fail.
 */
import { err } from '../../src/core/errors.js';
import type { ParentSpec } from '../../src/core/types.js';
import type { DriverCatalog } from '../../src/daemon/config.js';
import { string } from '../../src/daemon/validate.js';

/** Per-device state of the toy driver. */
export interface ToyState {
  knob: string;
  resets: number;
}

/** A fresh toy parent spec (each call has its own state). */
export function toyParent(name = 'toy'): ParentSpec<ToyState> {
  return {
    name,
    devicePath: `virtual/toy/${name}`,
    driverName: 'toy',
    deviceApi: 'vfio-pci',
    maxInstances: 4,
    types: [
      { sysfsName: 'small', prettyName: 'Small toy' },
      { sysfsName: 'big', description: () => 'a big one' },
    ],
    ops: {
      create: () => ({ knob: '0', resets: 0 }),
      remove: () => undefined,
      start: () => undefined,
      stop: () => undefined,
      reset: (_d, s) => {
        s.resets++;
      },
    },
    deviceAttributes: [
      {
        name: 'vendor',
        attrs: [
          {
            name: 'knob',
            mode: 0o644,
            show: (_d, s) => `${s.knob}\n`,
            store: (_d, s, v) => {
              if (!/^\d+\n?$/.test(v)) throw err('EINVAL', 'knob takes digits');
              s.knob = v.trim();
            },
          },
        ],
      },
    ],
  };
}

/** A catalog with the toy driver (`{"driver":"toy","name":"toy0"}`). */
export function toyCatalog(): DriverCatalog {
  return {
    toy: {
      keys: ['name'],
      validate: (e, p, issues) => {
        if (e.name !== undefined) string(e.name, `${p}.name`, issues, { nonEmpty: true });
      },
      create: (o) => toyParent(typeof o.name === 'string' ? o.name : 'toy') as ParentSpec,
    },
  };
}
