/**
 * Concepts: the real parts of umdevd, wired for `Daemon.start`: the driver catalog, the sysfs tree, the FUSE mount
 * and the vfio-user bus driver, with each device living in a device host of its own unless the config says
 * otherwise. This is the one file that knows which concrete modules make up the daemon; tests pass their own
 * `DaemonParts` instead.
 */
import type { Core } from '../core/core.js';
import { FuseServer } from '../fuse/index.js';
import { SysfsTree } from '../sysfs/index.js';
import { VfioUserBusDriver } from '../vfio-user/bus-driver.js';
import { native } from '../native/index.js';
import type { DaemonConfig, DriverCatalog } from './config.js';
import type { MdevDevice } from '../core/types.js';
import { err } from '../errors.js';
import { HostInstance } from './device-host/host-instance.js';
import { DeviceHosts } from './device-host/hosts.js';
import { HostIds } from './device-host/uids.js';
import { DRIVERS, DRIVERS_MODULE } from './drivers.js';
import type { DaemonParts, DeviceServer } from './daemon.js';
import type { Logger } from '../log.js';

/** The instance of a device of a parent whose devices live in hosts. */
function hosted(d: MdevDevice): HostInstance {
  if (!(d.driverData instanceof HostInstance)) throw err('EOPNOTSUPP', `${d.uuid} does not live in a device host`);
  return d.driverData;
}

/** A driver catalog, and the module URL device hosts import it from (it must export it as `DRIVERS`). */
export interface Catalog {
  readonly drivers: DriverCatalog;
  readonly module: string;
}

/** The parts `umdevd` runs with: umdev's own drivers unless a catalog is given (tests add drivers of their own). */
export function realParts(catalog: Catalog = { drivers: DRIVERS, module: DRIVERS_MODULE }): DaemonParts {
  return {
    drivers: catalog.drivers,
    sysfsTree: (core, layout, extensions) => new SysfsTree(core, { layout, extensions }),
    mount: async (tree, dir, log, busyPollUs) => {
      // FuseServer.start clears a stale mount a killed daemon left at `dir` before mounting.
      const server = await FuseServer.start({ tree, mountpoint: dir, name: 'umdev', log: (level, m) => log[level](m), busyPollNs: busyPollUs * 1000 });
      log.info(`sysfs mounted at ${dir}`);
      return { close: () => server.close(), settled: () => server.settled() };
    },
    deviceServer: (core: Core, config: DaemonConfig, log: Logger, source): DeviceServer => {
      const h = config.deviceHosts;
      const busyPollNs = config.busyPollUs * 1000;
      const hosts = h.enabled
        ? new DeviceHosts({
            catalog: catalog.module,
            source,
            // Root hands each device to an id of its own; a daemon that is not root has no ids to give.
            ids: process.getuid?.() === 0 ? new HostIds(h.ids) : undefined,
            memoryMiB: h.memoryMiB,
            stuckMs: h.stuckMs,
            warm: h.warm,
            bootConcurrency: h.bootConcurrency,
            nice: h.nice,
            zygote: h.zygote,
            busyPollNs,
            logLevel: config.log.level,
            io: native,
            log,
          })
        : undefined;
      const { mode, uid, gid } = config.sockets;
      const driver = new VfioUserBusDriver({
        core,
        runDir: config.sockets.dir,
        log,
        socketMode: mode,
        socketUid: uid,
        socketGid: gid,
        busyPollNs,
      });
      return {
        driver,
        socketPath: (d) => driver.socketPath(d.uuid),
        // Asked of the client's session, wherever it runs (in a host, by a call).
        clientCanMigrate: (d: MdevDevice) => driver.clientCanMigrate(d.uuid),
        ...(hosts === undefined
          ? {}
          : {
              placement: hosts.placement,
              // What the dashboard and /metrics ask of a device in its host: answered from the host's last report,
              // or by a call to it; the client is known here, from its socket's credentials at accept.
              client: (d) => driver.client(d.uuid),
              host: (d) => {
                const h = d.driverData instanceof HostInstance ? d.driverData.running : undefined;
                return h === undefined ? undefined : { pid: h.pid, uid: h.uid };
              },
              counters: (d) => (d.driverData instanceof HostInstance ? d.driverData.running?.counters : undefined),
              frame: (d, opts) => hosted(d).frame(opts),
              uart: (d, since) => hosted(d).uart(since),
            }),
        close: async () => {
          await driver.close();
          await hosts?.close();
        },
      };
    },
  };
}
