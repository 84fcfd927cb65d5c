/**
 * Concepts: what the FUSE server counts for `GET /metrics`: requests and failed requests per opcode, and one latency
 * histogram from the moment a request is read to the moment its reply is written (asynchronous `show`/`store`
 * included). The opcode names are a fixed set, so the series are bounded whatever the kernel sends.
 */
import { Histogram, type HistogramSnapshot } from '../metrics/histogram.js';

/** Latency bounds (seconds): an attribute answered from memory takes µs, a vendor's slow `show` milliseconds. */
export const FUSE_LATENCY_BOUNDS_S: readonly number[] = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.05, 0.25, 1];

/** Plain data: per opcode name, requests and failures; the latency histogram over all of them. */
export interface FuseStatsSnapshot {
  readonly ops: Readonly<Record<string, { readonly requests: number; readonly errors: number }>>;
  readonly latency: HistogramSnapshot;
}

/** Filled by the dispatcher of the server that mounts a tree; read by whoever owns the tree. */
export class FuseStats {
  readonly #ops = new Map<string, { requests: number; errors: number }>();
  readonly #latency = new Histogram(FUSE_LATENCY_BOUNDS_S);

  /** One request of `op` answered after `seconds` (undefined for requests that get no reply: FORGET). */
  observe(op: string, seconds: number | undefined, failed: boolean): void {
    let o = this.#ops.get(op);
    if (o === undefined) this.#ops.set(op, (o = { requests: 0, errors: 0 }));
    o.requests++;
    if (failed) o.errors++;
    if (seconds !== undefined) this.#latency.observe(seconds);
  }

  snapshot(): FuseStatsSnapshot {
    return { ops: Object.fromEntries([...this.#ops].map(([k, v]) => [k, { ...v }])), latency: this.#latency.snapshot() };
  }
}
