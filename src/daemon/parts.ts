/**
 * Concepts: the real parts of umdevd, wired for `Daemon.start`: the driver catalog (mtty), the sysfs tree, the FUSE
 * mount and the vfio-user bus driver. This is the one file that knows which concrete modules make up the daemon;
 * tests pass their own `DaemonParts` instead.
 */
import type { Core } from '../core/core.js';
import { createMttyParent, MTTY_MAX_PORTS } from '../drivers/mtty/index.js';
import { FuseServer } from '../fuse/index.js';
import { SysfsTree } from '../sysfs/index.js';
import { VfioUserBusDriver } from '../vfio-user/bus-driver.js';
import type { DriverCatalog } from './config.js';
import type { DaemonParts, DeviceServer } from './daemon.js';
import type { Logger } from '../log.js';
import { integer } from './validate.js';

/** The vendor drivers a config can name. */
export const DRIVERS: DriverCatalog = {
  mtty: {
    keys: ['ports'],
    validate: (entry, path, issues) => {
      if (entry.ports !== undefined) integer(entry.ports, `${path}.ports`, issues, 1, 4096);
    },
    create: (options) => createMttyParent({ ports: typeof options.ports === 'number' ? options.ports : MTTY_MAX_PORTS }),
  },
};

/** The parts `umdevd` runs with. */
export function realParts(): DaemonParts {
  return {
    drivers: DRIVERS,
    sysfsTree: (core, layout, extensions) => new SysfsTree(core, { layout, extensions }),
    mount: async (tree, dir, log) => {
      // FuseServer.start clears a stale mount a killed daemon left at `dir` before mounting.
      const server = await FuseServer.start({ tree, mountpoint: dir, name: 'umdev', log: (level, m) => log[level](m) });
      log.info(`sysfs mounted at ${dir}`);
      return { close: () => server.close() };
    },
    deviceServer: (core: Core, socketDir: string, log: Logger): DeviceServer => {
      const driver = new VfioUserBusDriver({ core, runDir: socketDir, log });
      return { driver, socketPath: (d) => driver.socketPath(d.uuid), close: () => driver.close() };
    },
  };
}
