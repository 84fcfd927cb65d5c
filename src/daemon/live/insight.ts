/**
 * Concepts: what the control API knows about a device beyond the core's model, from the one place that holds it.
 * The device transport (`DeviceServer`) answers for the devices it serves: the attached client, the device's host
 * process, its counters, its screen, its UART output. Where the transport has no answer and the device's instance
 * lives in this process (a `LocalInstance`: device hosts are off), its model is read; for a device in a host, a
 * member the transport lacks is simply unknown (the root holds no copy of the model to read). Host figures (RSS,
 * CPU) are read from /proc here, in the root, never believed from the host.
 */
import { createHash } from 'node:crypto';
import type { Core } from '../../core/core.js';
import type { MdevDevice } from '../../core/types.js';
import { err } from '../../errors.js';
import type { FuseStatsSnapshot } from '../../fuse/stats.js';
import { activityOf, type ClientInfo, type DeviceCounters } from '../../vfio/device-activity.js';
import { uartTapOf, type UartOutput } from '../../vfio/uart-tap.js';
import type { DeviceServer } from '../daemon.js';
import { LocalInstance } from '../../vfio-user/local-instance.js';
import { procStat } from '../proc-stat.js';
import { modelFrame } from './model-frame.js';
import { ScreenFrames } from './screen-frames.js';
import type { FrameOptions, HostStats, ScreenFrame } from './types.js';

export interface InsightOptions {
  readonly core: Core;
  readonly server: DeviceServer;
  /** A device's screen as a whole PNG, from its instance wherever it runs (used when the server has no `frame`). */
  readonly screen: (uuid: string) => Promise<Buffer>;
  /** The FUSE server's request statistics, when the tree is mounted. */
  readonly fuse?: () => FuseStatsSnapshot;
  readonly frameFreshMs?: number;
}

/** Owned by the daemon, lent to the API for its lifetime. */
export class DeviceInsight {
  readonly #core: Core;
  readonly #server: DeviceServer;
  readonly #screen: (uuid: string) => Promise<Buffer>;
  readonly #fuse: (() => FuseStatsSnapshot) | undefined;
  /** Every screen the API shows goes through this one cache (one encoder per device, however many viewers). */
  readonly frames: ScreenFrames;

  constructor(o: InsightOptions) {
    this.#core = o.core;
    this.#server = o.server;
    this.#screen = o.screen;
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
    return activityOf(localModel(d))?.client;
  }

  counters(d: MdevDevice): DeviceCounters | undefined {
    if (!this.#served(d)) return undefined;
    if (this.#server.counters !== undefined) return this.#server.counters(d);
    // Read without making a recorder: a device nobody used has none, and no counters worth a line.
    return activityOf(localModel(d))?.snapshot();
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
    const model = localModel(d);
    if (model !== undefined) return modelFrame(model, opts);
    // An instance that only makes whole PNGs: the tag is the PNG's hash, so viewers still get 304s for equal frames.
    const png = await this.#screen(uuid);
    const etag = createHash('sha256').update(png).digest('hex').slice(0, 32);
    return etag === opts.ifNoneMatch ? { unchanged: true, etag } : { png, etag };
  }

  /** What the device's UART sent after position `since`: EOPNOTSUPP for a device without a UART tap. */
  async uart(d: MdevDevice, since?: number): Promise<UartOutput> {
    if (!this.#served(d)) throw err('EOPNOTSUPP', `${d.uuid} is not served by a transport that taps its UART`);
    if (this.#server.uart !== undefined) return this.#server.uart(d, since);
    const tap = uartTapOf(localModel(d));
    if (tap === undefined) throw err('EOPNOTSUPP', `${d.uuid} has no UART output to show`);
    return tap.read(since);
  }

  fuse(): FuseStatsSnapshot | undefined {
    return this.#fuse?.();
  }
}

/** The live model of a device whose instance runs in this process; undefined for one in a device host. */
function localModel(d: MdevDevice): unknown {
  return d.driverData instanceof LocalInstance ? d.driverData.model : undefined;
}
