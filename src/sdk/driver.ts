/**
 * Concepts: a vendor driver as umdevd loads it from a config entry (`{"driver": "mtty", "ports": 8}`). The driver
 * declares its options, each with its kind, range and default, and how to build its parent from them; umdev checks
 * an entry against the declaration (every bad key reported at once, unknown keys refused, so a typo never falls
 * back to a default silently) and hands `create` complete, typed values. A device host calls `create` too, for the
 * declaration its one device is built from.
 */
import type { PciDevice } from '../vfio/pci-device.js';
import { type Issues, at, integer, string } from '../validate.js';
import type { PciParent, Placement } from './pci-parent.js';

/** An integer option in `[min, max]`. */
export interface IntegerOption {
  readonly kind: 'integer';
  readonly min: number;
  readonly max: number;
  readonly default: number;
}

/** A string option; `nonEmpty` refuses `""`. */
export interface StringOption {
  readonly kind: 'string';
  readonly nonEmpty?: boolean;
  readonly default: string;
}

export type OptionSpec = IntegerOption | StringOption;

/** A driver's options by config key. */
export type OptionsSchema = Readonly<Record<string, OptionSpec>>;

/** The values `create` receives: every option, given or defaulted. */
export type OptionValues<S extends OptionsSchema> = { readonly [K in keyof S]: S[K] extends IntegerOption ? number : string };

/** What the daemon tells a driver it builds a parent for (a device host builds its declaration without it). */
export interface DriverContext {
  /** The daemon's state dir: where a driver keeps what it makes (default disk images), unless configured elsewhere. */
  readonly stateDir: string;
}

/** What a vendor writes to be loadable by umdevd. */
export interface DriverSpec<S extends OptionsSchema> {
  readonly options: S;
  /** A new parent (and pool) per call, whose devices `placement` puts where they live (default: this process). */
  create(options: OptionValues<S>, placement?: Placement, context?: DriverContext): PciParent<PciDevice>;
}

/** A driver as umdevd's catalog holds it (`vendorDriver` makes one from a `DriverSpec`). */
export interface VendorDriver {
  /** Keys an entry may have besides `driver`; any other key is refused by the caller. */
  readonly keys: readonly string[];
  /** Check the entry's own keys; report problems to `issues`. */
  validate(entry: Readonly<Record<string, unknown>>, path: string, issues: Issues): void;
  /** Build the parent from a validated entry (options left out take their defaults). */
  create(options: Readonly<Record<string, unknown>>, placement?: Placement, context?: DriverContext): PciParent<PciDevice>;
}

/** The catalog entry of a driver that declares its options in `spec`. */
export function vendorDriver<S extends OptionsSchema>(spec: DriverSpec<S>): VendorDriver {
  const entries = Object.entries(spec.options);
  return {
    keys: entries.map(([k]) => k),
    validate: (entry, path, issues) => {
      for (const [key, o] of entries) {
        const v = entry[key];
        if (v === undefined) continue;
        if (o.kind === 'integer') integer(v, at(path, key), issues, o.min, o.max);
        else string(v, at(path, key), issues, { nonEmpty: o.nonEmpty === true });
      }
    },
    create: (options, placement, context) => {
      const values: Record<string, unknown> = {};
      for (const [key, o] of entries) values[key] = options[key] ?? o.default;
      return spec.create(values as OptionValues<S>, placement, context);
    },
  };
}
