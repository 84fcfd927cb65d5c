/**
 * Concepts: the device hosts of one umdevd: where its parents' devices live (`placement`), one host process per
 * device that has been used, each under an id of its own (`HostIds`). Hosts are booted ahead of need (`WarmPool`);
 * a device's first need takes a warm one, gives it the device's ids and the driver and options that made the
 * device's parent, and the host confines itself and builds the device's model from the catalog it loaded.
 */
import type { MdevDevice } from '../../core/types.js';
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
import { WarmPool } from './warm-pool.js';

export interface DeviceHostsOptions {
  /** Module URL exporting the `DRIVERS` catalog hosts build devices from. */
  readonly catalog: string;
  /** The driver config that made a parent. */
  readonly source: (parent: string) => ParentConfig | undefined;
  /** The ids hosts run as; undefined when umdevd is not root (hosts then keep its ids, and are confined all the same). */
  readonly ids: HostIds | undefined;
  readonly memoryMiB: number;
  readonly stuckMs: number;
  /** Hosts kept booted ahead of need. */
  readonly warm: number;
  /** Hosts booting at once, at most. */
  readonly bootConcurrency: number;
  /** Every host's nice value (umdevd keeps its own, so a host never outranks it). */
  readonly nice: number;
  /** Fork hosts from a zygote (true), or spawn each one. */
  readonly zygote: boolean;
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
  readonly #pool: WarmPool;
  /** The id each booted host will take when it is handed a device. */
  readonly #hostIds = new Map<HostProcess, number>();
  /** The zygote hosts are forked from, once one was needed; a new one is booted if it dies. */
  #zygote: Promise<HostProcess> | undefined;
  #closed = false;
  /** Each new device's instance lives in a host of its own. */
  readonly placement: Placement = { place: (device) => new HostInstance(device, (d) => this.#start(d)) };

  constructor(o: DeviceHostsOptions) {
    this.#o = o;
    const log = o.log.child('device-host');
    const boot = { catalog: o.catalog, memoryMiB: o.memoryMiB, stuckMs: o.stuckMs, nice: o.nice, io: o.io, log, deviceLog: makeLogger('warm', o.log) };
    this.#pool = new WarmPool({
      size: o.warm,
      concurrency: o.bootConcurrency,
      log,
      boot: () => this.#boot(boot),
    });
  }

  /**
   * One warm host, with the id it will run as: taken now, off the path of the device that will use it (finding a
   * free id reads /proc), and given back only once the host is reaped.
   */
  async #boot(boot: Parameters<typeof HostProcess.boot>[0]): Promise<HostProcess> {
    const o = this.#o;
    const id = o.ids?.take() ?? -1;
    let host: HostProcess;
    try {
      host = o.zygote ? await HostProcess.fork(await this.#liveZygote(boot), boot) : await HostProcess.boot(boot);
    } catch (e) {
      if (id >= 0) o.ids?.give(id);
      throw e;
    }
    this.#hostIds.set(host, id);
    void host.exited.then(() => {
      this.#hostIds.delete(host);
      // Only once it is reaped: until then the id is still that process's.
      if (id >= 0) o.ids?.give(id);
    });
    return host;
  }

  /** The zygote, booted on first use and again whenever the last one has died. */
  #liveZygote(boot: Parameters<typeof HostProcess.boot>[0]): Promise<HostProcess> {
    const current = this.#zygote;
    if (current !== undefined) {
      return current.then(
        (z) => (z.alive ? z : this.#newZygote(boot, current)),
        () => this.#newZygote(boot, current),
      );
    }
    return this.#newZygote(boot, undefined);
  }

  #newZygote(boot: Parameters<typeof HostProcess.boot>[0], replacing: Promise<HostProcess> | undefined): Promise<HostProcess> {
    if (this.#closed) return Promise.reject(err('ENODEV', 'the device hosts are shutting down'));
    // Another caller may have started the replacement already.
    if (this.#zygote !== replacing && this.#zygote !== undefined) return this.#zygote;
    const z = HostProcess.boot({ ...boot, zygote: true }).then((h) => {
      h.asZygote();
      this.#o.log.child('device-host').debug(`zygote pid ${h.pid} forks device hosts`);
      return h;
    });
    this.#zygote = z;
    return z;
  }

  /** Hosts holding a device now. */
  get running(): number {
    return this.#running.size;
  }

  /** The warm pool (its counts, and `settled` for benches and tests). */
  get pool(): WarmPool {
    return this.#pool;
  }

  /**
   * A host for `device`: a warm one (or the next to boot) is handed the device. The INIT is not waited for: calls
   * made now queue behind it on the channel and the host answers them in order, so a client's session starts one
   * round trip sooner. A host whose INIT fails is killed (and the reason logged), which fails whatever was queued.
   */
  async #start(device: MdevDevice): Promise<HostProcess> {
    const o = this.#o;
    const source = o.source(device.parent.name);
    if (source === undefined) throw err('ENODEV', `no driver source for parent ${device.parent.name}`);
    const host = await this.#pool.take();
    const id = this.#hostIds.get(host) ?? -1;
    const log = o.log.child('device-host', device.uuid);
    host
      .hold(
        {
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
        { deviceLog: makeLogger(device.uuid, o.log), log },
      )
      .catch(() => undefined);
    this.#running.add(host);
    log.debug(`device host pid ${host.pid} holds the device${id >= 0 ? ` as uid ${id}` : ''}`);
    void host.exited.then(() => this.#running.delete(host));
    return host;
  }

  /** Stop every host, warm or holding a device (daemon shutdown, after the devices are removed). */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([this.#pool.close(), ...[...this.#running].map((h) => h.shutdown())]);
    // Last: hosts it forked die with it.
    await this.#zygote?.then((z) => z.shutdown(), () => undefined);
  }
}
