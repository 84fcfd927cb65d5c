/**
 * Concepts: what the control API knows about a device beyond the core's model, from the one place that holds it.
 * The device transport (`DeviceServer`) answers for the devices it serves: the attached client, the device's host
 * process, its counters, its screen, its UART output. Where the transport has no answer and the device's model
 * lives in this process (`inProcess`: device hosts are off), the model itself is read; with device hosts, a member
 * the transport lacks is simply unknown, never taken from the root's idle copy of the model, which is not the
 * device a client uses. Host figures (RSS, CPU) are read from /proc here, in the root, never believed from the host.
 */
import { createHash } from 'node:crypto';
import type { Core } from '../../core/core.js';
import type { MdevDevice } from '../../core/types.js';
import { err } from '../../errors.js';
import type { FuseStatsSnapshot } from '../../fuse/stats.js';
import { activityOf, type ClientInfo, type DeviceCounters } from '../../vfio/device-activity.js';
import { uartTapOf, type UartOutput } from '../../vfio/uart-tap.js';
import type { DeviceServer } from '../daemon.js';
import { procStat } from '../proc-stat.js';
import { modelFrame } from './model-frame.js';
import { ScreenFrames } from './screen-frames.js';
import type { FrameOptions, HostStats, ScreenFrame } from './types.js';

export interface InsightOptions {
  readonly core: Core;
  readonly server: DeviceServer;
  /** True when device models run in this process (device hosts off): a member the server lacks is read from the model. */
  readonly inProcess: boolean;
  /** The FUSE server's request statistics, when the tree is mounted. */
  readonly fuse?: () => FuseStatsSnapshot;
  readonly frameFreshMs?: number;
}

/** Owned by the daemon, lent to the API for its lifetime. */
export class DeviceInsight {
  readonly #core: Core;
  readonly #server: DeviceServer;
  readonly #inProcess: boolean;
  readonly #fuse: (() => FuseStatsSnapshot) | undefined;
  /** Every screen the API shows goes through this one cache (one encoder per device, however many viewers). */
  readonly frames: ScreenFrames;

  constructor(o: InsightOptions) {
    this.#core = o.core;
    this.#server = o.server;
    this.#inProcess = o.inProcess;
    this.#fuse = o.fuse;
    this.frames = new ScreenFrames((uuid, opts) => this.#frame(uuid, opts), o.frameFreshMs === undefined ? {} : { freshMs: o.frameFreshMs });
  }

  /** True when the device is bound to the transport this daemon runs. */
  #served(d: MdevDevice): boolean {
    return d.driver === this.#server.driver.name;
  }

  client(d: MdevDevice): ClientInfo | undefined {
    if (!this.#served(d)) return undefined;
    if (this.#server.client !== undefined) return this.#server.client(d);
    return this.#inProcess ? activityOf(d.driverData)?.client : undefined;
  }

  counters(d: MdevDevice): DeviceCounters | undefined {
    if (!this.#served(d)) return undefined;
    if (this.#server.counters !== undefined) return this.#server.counters(d);
    // Read without making a recorder: a device nobody used has none, and no counters worth a line.
    return this.#inProcess ? activityOf(d.driverData)?.snapshot() : undefined;
  }

  host(d: MdevDevice): HostStats | undefined {
    if (!this.#served(d)) return undefined;
    const h = this.#server.host?.(d);
    if (h === undefined) return undefined;
    const s = procStat(h.pid);
    return s === undefined ? undefined : { pid: h.pid, uid: h.uid, rssBytes: s.rssBytes, cpuSeconds: s.cpuSeconds };
  }

  /** The frame of a device's screen, through the shared cache. */
  frame(uuid: string, ifNoneMatch?: string): Promise<ScreenFrame> {
    return this.frames.get(uuid, ifNoneMatch);
  }

  async #frame(uuid: string, opts: FrameOptions): Promise<ScreenFrame> {
    const d = this.#core.device(uuid);
    if (d === undefined) throw err('ENODEV', `no device ${uuid}`);
    if (!this.#served(d)) throw err('EOPNOTSUPP', `${uuid} is not served by a transport that can show its screen`);
    if (this.#server.frame !== undefined) return this.#server.frame(d, opts);
    if (this.#inProcess) return modelFrame(d.driverData, opts);
    if (this.#server.screen === undefined) throw err('EOPNOTSUPP', 'this daemon cannot show device screens');
    // A transport that only makes whole PNGs: the tag is the PNG's hash, so viewers still get 304s for equal frames.
    const png = await this.#server.screen(d);
    const etag = createHash('sha256').update(png).digest('hex').slice(0, 32);
    return etag === opts.ifNoneMatch ? { unchanged: true, etag } : { png, etag };
  }

  /** What the device's UART sent after position `since`: EOPNOTSUPP for a device without a UART tap. */
  async uart(d: MdevDevice, since?: number): Promise<UartOutput> {
    if (!this.#served(d)) throw err('EOPNOTSUPP', `${d.uuid} is not served by a transport that taps its UART`);
    if (this.#server.uart !== undefined) return this.#server.uart(d, since);
    const tap = this.#inProcess ? uartTapOf(d.driverData) : undefined;
    if (tap === undefined) throw err('EOPNOTSUPP', `${d.uuid} has no UART output to show`);
    return tap.read(since);
  }

  fuse(): FuseStatsSnapshot | undefined {
    return this.#fuse?.();
  }
}
