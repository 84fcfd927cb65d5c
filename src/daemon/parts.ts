/**
 * Concepts: the real parts of umdevd, wired for `Daemon.start`: the driver catalog (mtty), the sysfs tree, the FUSE
 * mount and the vfio-user bus driver, whose clients are served by device hosts unless the config says otherwise. This is the one file that knows which concrete modules make up the daemon;
 * tests pass their own `DaemonParts` instead.
 */
import type { Core } from '../core/core.js';
import type { MdevDevice } from '../core/types.js';
import { FuseServer } from '../fuse/index.js';
import { SysfsTree } from '../sysfs/index.js';
import { VfioUserBusDriver } from '../vfio-user/bus-driver.js';
import { native } from '../native/index.js';
import type { DaemonConfig } from './config.js';
import { hostRunner } from './device-host/runner.js';
import { resolveUser } from './device-host/user.js';
import { DRIVERS, DRIVERS_MODULE } from './drivers.js';
import type { DaemonParts, DeviceServer } from './daemon.js';
import type { Logger } from '../log.js';

/** The parts `umdevd` runs with. */
export function realParts(): DaemonParts {
  return {
    drivers: DRIVERS,
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
      const runSession = h.enabled
        ? hostRunner({
            catalog: DRIVERS_MODULE,
            source,
            open: (uuid) => core.open(uuid),
            // Root hands sessions down to an unprivileged user; a daemon that is not root has nothing to drop.
            user: process.getuid?.() === 0 ? resolveUser(h.user) : undefined,
            memoryMiB: h.memoryMiB,
            stuckMs: h.stuckMs,
            busyPollNs,
            io: native,
            log,
            logSettings: config.log,
          })
        : undefined;
      const { mode, uid, gid } = config.sockets;
      const driver = new VfioUserBusDriver({
        core,
        runDir: config.sockets.dir,
        log,
        runSession,
        socketMode: mode,
        socketUid: uid,
        socketGid: gid,
        busyPollNs,
      });
      return {
        driver,
        socketPath: (d) => driver.socketPath(d.uuid),
        screen: (d) => driver.screen(d.uuid),
        migration: { open: (uuid, owner) => driver.openMigration(uuid, owner), carry: (uuid) => driver.carry(uuid) },
        // In-process sessions know whether their client negotiated migration; a device host's does not say yet, so
        // with hosts on the question has no answer here (absent), as before.
        ...(h.enabled ? {} : { clientCanMigrate: (d: MdevDevice) => Promise.resolve(driver.clientCanMigrate(d.uuid)) }),
        close: () => driver.close(),
      };
    },
  };
}
