/**
 * Concepts: the vendor-facing and view-facing shapes of the mdev model.
 *
 * - A *parent* is a vendor device that can be split; a vendor driver registers it with a `ParentSpec`.
 * - A *type* is one way of splitting it (`mtty-1`, `mtty-2`); its id is `<driverName>-<sysfsName>`.
 * - A *device* (mdev) is one slice, named by a UUID unique across all parents. It is probed by the first matching
 *   *bus driver* (e.g. the vfio-user server) and owns one IOMMU group id while it exists.
 *
 * Ownership is in the types: `*Spec` objects are written by drivers before registration; everything else here is
 * created by the core and `readonly` to drivers and views. Views never reach core maps directly; they ask `Core`.
 */
import type { Errno } from '../errors.js';

/** A lower-case hyphenated UUID, as the kernel names an mdev (`%pUl`). */
export type Uuid = string;

/** One vendor attribute file of a device (mainline `mdev_driver.driver.dev_groups`). Set by the driver. */
export interface DeviceAttrSpec<D = unknown> {
  readonly name: string;
  /** Permission bits as sysfs shows them: 0o444 read-only, 0o200 write-only, 0o644 read-write. */
  readonly mode: number;
  /** The value, ending in `\n` as sysfs values do (a promise when the vendor state lives elsewhere). */
  show?(device: MdevDevice, state: D): string | Promise<string>;
  /** Parse and apply a write; throw `UmdevError` (usually `EINVAL`) to reject it with nothing changed. */
  store?(device: MdevDevice, state: D, value: string): void | Promise<void>;
}

/** A named group of vendor attributes; `name` is the sub-directory (`vendor`), or absent for the device dir itself. */
export interface DeviceAttrGroupSpec<D = unknown> {
  readonly name?: string;
  readonly attrs: readonly DeviceAttrSpec<D>[];
}

/** One type a parent offers. Set by the driver before registration. */
export interface TypeSpec {
  /** The driver's short name for the type; the type id becomes `<driverName>-<sysfsName>`. */
  readonly sysfsName: string;
  /** Shown by the `name` attribute; `sysfsName` when absent (as mainline). */
  readonly prettyName?: string;
  /** Shown by the `description` attribute, which exists only when this is given (mainline `show_description`). */
  readonly description?: () => string;
}

/**
 * The vendor's hooks. `D` is the vendor's per-device state, created by `create` and handed back to every other hook;
 * the core stores it and never looks inside.
 */
export interface ParentOps<D = unknown> {
  /**
   * Bring up a new device's vendor state (seed `create`, mainline `probe`+`init`). Throw to refuse; the errno passes
   * through unchanged (mtty: `ENOSPC` when out of ports). `params` is the seed v6 string, absent on the mainline path.
   */
  create(device: MdevDevice, params: string | undefined): D | Promise<D>;
  /** Tear the vendor state down. Cannot refuse; runs after the bus driver is unbound and every handle is closed. */
  remove(device: MdevDevice, state: D): void | Promise<void>;
  /** Veto a non-forced removal before anything is torn down (4.10-era `remove` returning `-EBUSY`: no hot-unplug). */
  requestRemove?(device: MdevDevice, state: D): void | Promise<void>;
  /** Vendor-computed free instances of a type (mainline `get_available`); errors such as `ENOSPC` pass through. */
  getAvailable?(type: MdevType): number;
  /** Start one device (seed `start`). Without `start`/`startGroup` a device is online from creation. */
  start?(device: MdevDevice, state: D): void | Promise<void>;
  stop?(device: MdevDevice, state: D): void | Promise<void>;
  /** Start several devices in one vendor call (the one-shot group start the review asked for). All or nothing. */
  startGroup?(devices: readonly { device: MdevDevice; state: D }[]): void | Promise<void>;
  stopGroup?(devices: readonly { device: MdevDevice; state: D }[]): void | Promise<void>;
  /** Device reset; without it `reset` fails with `ENOTTY`. */
  reset?(device: MdevDevice, state: D): void | Promise<void>;
  /** Seed v6 `supported_config`: the text of the read-only `mdev_supported_types` file. */
  supportedConfigs?(): string;
}

/** What a vendor driver passes to `registerParent`. Set by the driver. */
export interface ParentSpec<D = unknown> {
  /** `dev_name(parent)`: the entry in `/sys/class/mdev_bus`, and the basename of `devicePath`. */
  readonly name: string;
  /** The parent's directory below `/sys/devices`, e.g. `virtual/mtty/mtty`. Its basename must equal `name`. */
  readonly devicePath: string;
  /** `dev_driver_string(parent)`: the prefix of every type id. */
  readonly driverName: string;
  /** `device_api` of every type, e.g. `vfio-pci`. */
  readonly deviceApi: string;
  /** Core-managed pool shared by all types (exhaustion → `EUSERS`); ignored when `ops.getAvailable` exists. */
  readonly maxInstances?: number;
  readonly types: readonly TypeSpec[];
  readonly ops: ParentOps<D>;
  /** Per-device vendor attribute groups, rendered in each device's sysfs directory. */
  readonly deviceAttributes?: readonly DeviceAttrGroupSpec<D>[];
}

/** A registered parent, as the core exposes it. Created by the core. */
export interface Parent {
  readonly name: string;
  readonly devicePath: string;
  readonly driverName: string;
  readonly deviceApi: string;
  readonly types: readonly MdevType[];
  /** True from the start of `unregisterParent`: new creates fail with `ENODEV`. */
  readonly unregistering: boolean;
  readonly hasReset: boolean;
  /** True when the vendor has start/stop hooks, so `online` can change. */
  readonly hasOnline: boolean;
  readonly deviceAttributes: readonly DeviceAttrGroupSpec[];
  readonly supportedConfigs: (() => string) | undefined;
}

/** A type of a registered parent. Created by the core. */
export interface MdevType {
  /** `<driverName>-<sysfsName>`, the directory name under `mdev_supported_types`. */
  readonly id: string;
  readonly sysfsName: string;
  /** `prettyName`, or `sysfsName` when the driver gave none. */
  readonly name: string;
  readonly description: (() => string) | undefined;
  readonly deviceApi: string;
  readonly parent: Parent;
}

/** Where a device is in its life. Only `active` devices are visible to views. */
export type DeviceState = 'creating' | 'active' | 'removing';

/** A mediated device, as the core exposes it. Created by the core; every field is a live view of core state. */
export interface MdevDevice {
  readonly uuid: Uuid;
  /** The sysfs name: the UUID, or `UUID-instance` in the seed v6 layout. */
  readonly name: string;
  readonly parent: Parent;
  readonly type: MdevType;
  /** Seed v6 instance number; absent on the mainline path. */
  readonly instance: number | undefined;
  /** Seed v6 params string; absent on the mainline path. */
  readonly params: string | undefined;
  readonly state: DeviceState;
  readonly online: boolean;
  /** The IOMMU group id, while attached. */
  readonly iommuGroup: number | undefined;
  /** Name of the bound bus driver, if any. */
  readonly driver: string | undefined;
  /** The VFIO device index (`vfio<N>`) while bound: the lowest free one, from bind to unbind. */
  readonly vfioIndex: number | undefined;
  /** The vendor's per-device state (what `ParentOps.create` returned). Bus drivers narrow it with their own guard. */
  readonly driverData: unknown;
  /** Number of open handles. */
  readonly openCount: number;
}

/** A driver on the mdev bus (the seed's `vfio_mpci`; mainline `mdev_driver`). Set by the bus driver. */
export interface BusDriver {
  readonly name: string;
  match(device: MdevDevice): boolean;
  /** Bind: throw to fail the create that probed it (the create then rolls back). */
  probe(device: MdevDevice): void | Promise<void>;
  /** Unbind. Cannot refuse. */
  remove(device: MdevDevice): void | Promise<void>;
}

/** An open reference to a device. Taken by `Core.open`; released by its holder (idempotent). */
export interface DeviceHandle {
  readonly device: MdevDevice;
  readonly released: boolean;
  /** Pairs with `Core.open`. Idempotent. */
  release(): void;
  /** Called once if a forced removal revokes this handle; the holder must stop using the device. */
  onRevoke(listener: (reason: string) => void): () => void;
  /**
   * Called while a plain removal waits for this handle (at once, then every wait interval; `count` rises from 0):
   * the holder is asked to release the device, as vfio's `request` op asks the user.
   */
  onRequest(listener: (count: number) => void): () => void;
}

/** One mapped range of a device (seed `mdev_add_phys_mapping`). */
export interface MappedRange {
  readonly start: bigint;
  readonly size: bigint;
  /** Told when `invalidate` hits any part of the range. */
  readonly onInvalidate: (range: MappedRange, hitStart: bigint, hitSize: bigint) => void;
}

export type CoreEventKind =
  | 'add'
  | 'remove'
  | 'online'
  | 'offline'
  | 'change'
  | 'registered'
  | 'unregistered'
  | 'warning';

/** One event (the seed's uevents, plus `warning` for slow operations). */
export interface CoreEvent {
  readonly kind: CoreEventKind;
  readonly parent: string;
  readonly uuid?: Uuid;
  readonly type?: string;
  readonly message?: string;
  /** Who asked for an `add` or `remove` (`api`, `sysfs`, `autostart`, `unregister`), when the caller said so. */
  readonly origin?: string;
  /** Set on a `remove` that revoked open handles instead of waiting for them. */
  readonly forced?: true;
  /** Monotonic sequence number, so a stream consumer can tell it missed nothing. */
  readonly seq: number;
}

/** Options of `Core.create`. */
export interface CreateOptions {
  /** Seed v6 instance number (device then named `UUID-instance`). */
  readonly instance?: number;
  /** Seed v6 params string, handed to the vendor's `create`. */
  readonly params?: string;
  /** Who asks (`api`, `sysfs`, …); carried on the `add` event so a log line can say where a device came from. */
  readonly origin?: string;
}

/** Options of `Core.remove`. */
export interface RemoveOptions {
  /** Skip the vendor's veto and revoke open handles instead of waiting for them. */
  readonly force?: boolean;
  /** Who asks; carried on the `remove` event. */
  readonly origin?: string;
}

export type { Errno };
