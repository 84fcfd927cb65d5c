import { join } from 'node:path';

/** Where the CLI finds the sysfs tree and the definitions; plain data, owned by the caller of each command. */
export interface SysrootOptions {
  /** The directory that plays `/sys` (a kernel's, a FUSE mount, or a test tree). */
  readonly sysfsRoot?: string;
  /** The directory that plays `/etc/mdevctl.d`. */
  readonly configRoot?: string;
}

/** The default roots: the same places the unmodified mdevctl uses. */
export const DEFAULT_SYSFS_ROOT = '/sys';
export const DEFAULT_CONFIG_ROOT = '/etc/mdevctl.d';

/**
 * Every path the CLI touches, derived from two roots (as mdevctl's `Environment` derives all of its paths from one),
 * so tests and FUSE mounts can stand in for `/sys` and `/etc/mdevctl.d`. Commands never build an absolute path
 * themselves. Immutable; the fixed paths are joined once, here, since a listing asks for some of them per device.
 */
export class Sysroot {
  readonly sysfsRoot: string;
  readonly configRoot: string;
  /** `<sysfs>/bus/mdev/devices`: one entry (a symlink, in a real tree) per active mdev. */
  readonly mdevDevices: string;
  /** `<sysfs>/class/mdev_bus`: one entry per registered parent. */
  readonly mdevBus: string;
  /** `<config>/scripts.d`, which holds the callout and notifier directories. */
  readonly scriptsDir: string;
  /** The callout scripts (`pre`/`post`/`get`) and the notifiers, as mdevctl 1.2.0 lays them out. */
  readonly calloutDirs: { readonly callouts: string; readonly notifiers: string };

  constructor(opts: SysrootOptions = {}) {
    this.sysfsRoot = opts.sysfsRoot ?? DEFAULT_SYSFS_ROOT;
    this.configRoot = opts.configRoot ?? DEFAULT_CONFIG_ROOT;
    this.mdevDevices = join(this.sysfsRoot, 'bus/mdev/devices');
    this.mdevBus = join(this.sysfsRoot, 'class/mdev_bus');
    this.scriptsDir = join(this.configRoot, 'scripts.d');
    this.calloutDirs = { callouts: join(this.scriptsDir, 'callouts'), notifiers: join(this.scriptsDir, 'notifiers') };
  }

  /**
   * The roots from command-line flags, then `UMDEV_SYSFS_ROOT` / `UMDEV_CONFIG_ROOT`, then the defaults.
   * Empty strings count as unset.
   */
  static resolve(flags: SysrootOptions, env: Readonly<Record<string, string | undefined>>): Sysroot {
    const pick = (...xs: (string | undefined)[]): string | undefined => xs.find((x) => x !== undefined && x !== '');
    return new Sysroot({
      sysfsRoot: pick(flags.sysfsRoot, env.UMDEV_SYSFS_ROOT),
      configRoot: pick(flags.configRoot, env.UMDEV_CONFIG_ROOT),
    });
  }

  /** `<config>`: `<parent>/<uuid>` JSON definitions. */
  get definitions(): string {
    return this.configRoot;
  }

  /** `<sysfs>/bus/mdev/devices/<uuid>`. */
  mdevPath(uuid: string): string {
    return join(this.mdevDevices, uuid);
  }

  /** `<config>/<parent>/<uuid>`. */
  definitionPath(parent: string, uuid: string): string {
    return join(this.configRoot, parent, uuid);
  }
}
