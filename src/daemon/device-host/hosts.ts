/**
 * Concepts: the device hosts of one umdevd: where its parents' devices live (`placement`), one host process per
 * device that has been used, each under an id of its own (`HostIds`). A host is told which driver and options made
 * its device's parent, and builds the device's model itself from the same catalog.
 */
import type { MdevDevice } from '../../core/index.js';
import { err } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Native } from '../../native/index.js';
import type { Placement } from '../../sdk/pci-parent.js';
import { makeLogger } from '../../vfio-user/log.js';
import type { ParentConfig } from '../config.js';
import { HostInstance } from './host-instance.js';
import { HostProcess } from './host-process.js';
import type { LogLevel } from './protocol.js';
import type { HostIds } from './uids.js';

export interface DeviceHostsOptions {
  /** Module URL exporting the `DRIVERS` catalog hosts build devices from. */
  readonly catalog: string;
  /** The driver config that made a parent. */
  readonly source: (parent: string) => ParentConfig | undefined;
  /** The ids hosts run as; undefined when umdevd is not root (hosts then keep its ids, and are confined all the same). */
  readonly ids: HostIds | undefined;
  readonly memoryMiB: number;
  readonly stuckMs: number;
  readonly maxDmaMaps?: number;
  readonly busyPollNs: number;
  readonly logLevel: LogLevel;
  readonly io: Native;
  /** The daemon's root logger. */
  readonly log: Logger;
}

/** One daemon's device hosts. Owned by the daemon; `close` ends them all. */
export class DeviceHosts {
  readonly #o: DeviceHostsOptions;
  readonly #running = new Set<HostProcess>();
  /** Each new device's instance lives in a host of its own. */
  readonly placement: Placement = { place: (device) => new HostInstance(device, (d) => this.#start(d)) };

  constructor(o: DeviceHostsOptions) {
    this.#o = o;
  }

  /** Hosts running now. */
  get running(): number {
    return this.#running.size;
  }

  async #start(device: MdevDevice): Promise<HostProcess> {
    const o = this.#o;
    const source = o.source(device.parent.name);
    if (source === undefined) throw err('ENODEV', `no driver source for parent ${device.parent.name}`);
    const id = o.ids?.take() ?? -1;
    let host: HostProcess;
    try {
      const deviceLog = makeLogger(device.uuid, o.log);
      host = await HostProcess.start({
        init: {
          uuid: device.uuid,
          name: device.name,
          catalog: o.catalog,
          driver: source.driver,
          options: source.options,
          type: device.type.sysfsName,
          uid: id,
          gid: id,
          logLevel: o.logLevel,
          maxDmaMaps: o.maxDmaMaps,
          busyPollNs: o.busyPollNs,
        },
        memoryMiB: o.memoryMiB,
        stuckMs: o.stuckMs,
        io: o.io,
        deviceLog,
        log: o.log.child('device-host', device.uuid),
      });
    } catch (e) {
      if (id >= 0) o.ids?.give(id);
      throw e;
    }
    this.#running.add(host);
    o.log.child('device-host', device.uuid).debug(`device host pid ${host.pid} holds the device${id >= 0 ? ` as uid ${id}` : ''}`);
    void host.exited.then(() => {
      this.#running.delete(host);
      // Only once it is reaped: until then the id is still that process's.
      if (id >= 0) o.ids?.give(id);
    });
    return host;
  }

  /** Stop every host (daemon shutdown, after the devices are removed). */
  async close(): Promise<void> {
    await Promise.all([...this.#running].map((h) => h.shutdown()));
  }
}
