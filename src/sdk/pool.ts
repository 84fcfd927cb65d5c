/**
 * Concepts: the units a parent's devices share (mtty's ports, mbochs's MiB of video memory), counted where the
 * parent lives. A create reserves its type's cost or fails with ENOSPC and the vendor's words; a remove gives it
 * back; `available_instances` is what is left over a type's cost.
 */
import { err } from '../errors.js';

/** What a vendor declares of its pool. */
export interface PoolSpec {
  /** Units in all. */
  readonly size: number;
  /** Units one device of a type takes (by the type's sysfs name); EINVAL for a type the driver lacks. */
  cost(type: { readonly sysfsName: string }): number;
  /** The ENOSPC message for a create that wants `want` units with `left` free. */
  full?(want: number, left: number): string;
}

/** One parent's pool. Owned by the parent's spec. */
export class Pool {
  readonly #spec: PoolSpec;
  readonly #parent: string;
  #left: number;

  constructor(spec: PoolSpec, parent: string) {
    if (!Number.isInteger(spec.size) || spec.size < 0) throw err('EINVAL', `${parent}: a pool of ${spec.size} units`);
    this.#spec = spec;
    this.#parent = parent;
    this.#left = spec.size;
  }

  /** Units free now. */
  get left(): number {
    return this.#left;
  }

  /** Take a device of `type`'s units; returns them (to give back with `release`). ENOSPC when they do not fit. */
  reserve(type: { readonly sysfsName: string }): number {
    const want = this.#spec.cost(type);
    if (want > this.#left) throw err('ENOSPC', this.#spec.full?.(want, this.#left) ?? `${this.#parent}: ${want} units wanted, ${this.#left} free`);
    this.#left -= want;
    return want;
  }

  release(units: number): void {
    this.#left = Math.min(this.#spec.size, this.#left + units);
  }

  /** Devices of `type` that still fit. */
  available(type: { readonly sysfsName: string }): number {
    return Math.floor(this.#left / this.#spec.cost(type));
  }
}
