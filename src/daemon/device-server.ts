/**
 * Concepts: the device transport as the daemon sees it: the vfio-user bus driver, in-process or with device hosts
 * (`parts.ts` makes it). A module of its own so that what reads devices' live state (`live/insight.ts`) can name
 * it without importing the daemon that owns it.
 */
import type { BusDriver, MdevDevice } from '../core/index.js';
import type { Placement } from '../sdk/pci-parent.js';
import type { ClientInfo, DeviceCounters } from '../vfio/device-activity.js';
import type { UartOutput } from '../vfio/uart-tap.js';
import type { FrameOptions, HostProcess, ScreenFrame } from './live/types.js';

/**
 * A bus driver that serves devices, plus its own shutdown. The optional members tell the root what only the side
 * that runs a device knows (for the dashboard and `/metrics`); each is called with a device bound to `driver`.
 * Where one is absent and the device's instance lives in umdevd itself (a `LocalInstance`), the daemon reads its
 * model instead (`live/insight.ts`); for a device in a host, the transport that talks to the host is the one that
 * can answer, and until it does the dashboard shows the fact as unknown.
 */
export interface DeviceServer {
  readonly driver: BusDriver;
  /** Path of the device's socket while it is bound. */
  socketPath(device: MdevDevice): string;
  /** Where the parents' devices live (a device host each); absent: in this process. */
  readonly placement?: Placement;
  /**
   * Whether the client attached to `device` can follow a migration: undefined when no client is attached, false when
   * one is attached that never negotiated migration (such a VMM would lose the device). Absent: cannot tell.
   */
  clientCanMigrate?(device: MdevDevice): Promise<boolean | undefined>;
  /**
   * The device's screen as a tagged frame, made where the device runs: `{unchanged, etag}` when its tag still
   * equals `ifNoneMatch` (nothing encoded), else the PNG and its tag; errors as `DeviceInstance.screen`. The root
   * calls it at most every 100 ms per device, however many viewers (`live/screen-frames.ts`). Absent: the root
   * asks the instance for whole PNGs and tags them by hash (`model-frame.ts` shows how a host makes tags).
   */
  frame?(device: MdevDevice, opts: FrameOptions): Promise<ScreenFrame>;
  /** The vfio-user client attached now (SO_PEERCRED of its socket, read at accept), if any. Synchronous: no RPC per call. */
  client?(device: MdevDevice): ClientInfo | undefined;
  /** The device's host process while it runs (pid, uid); the root reads its RSS and CPU from /proc itself. */
  host?(device: MdevDevice): HostProcess | undefined;
  /**
   * Monotonic totals since the device was created (`vfio/device-activity.ts`), as last reported by wherever the
   * device runs and checked with `parseDeviceCounters`. Synchronous: a host reports them at its own pace (about
   * once a second is plenty), the root answers from the last report.
   */
  counters?(device: MdevDevice): DeviceCounters | undefined;
  /** What the device's UART sent after position `since`, from a bounded ring where the device runs (`vfio/uart-tap.ts`). */
  uart?(device: MdevDevice, since?: number): Promise<UartOutput>;
  close(): Promise<void>;
}
