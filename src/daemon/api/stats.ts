/**
 * Concepts: what the control API counts for `/metrics`: requests by method, route pattern (never the raw path, so
 * UUIDs do not become series) and status code, and a latency histogram of the JSON routes (streams such as
 * `/events` last as long as their reader and are counted, not timed).
 */
import { Histogram, type HistogramSnapshot } from '../../metrics/histogram.js';

export const API_LATENCY_BOUNDS_S: readonly number[] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5];

const METHODS = new Set(['GET', 'POST', 'PUT', 'DELETE', 'HEAD']);

/** One row of the request counts. Plain data. */
export interface ApiRequestCount {
  readonly method: string;
  readonly route: string;
  readonly code: number;
  readonly count: number;
}

/** Owned by the API server for its lifetime. */
export class ApiStats {
  readonly #counts = new Map<string, { method: string; route: string; code: number; count: number }>();
  readonly #latency = new Histogram(API_LATENCY_BOUNDS_S);

  /** A request ended with `code`; `seconds` for timed (non-stream) routes. `route` is a pattern, `none` or `refused`. */
  observe(method: string | undefined, route: string, code: number, seconds: number | undefined): void {
    const m = method !== undefined && METHODS.has(method) ? method : 'other';
    const key = `${m} ${route} ${code}`;
    let c = this.#counts.get(key);
    if (c === undefined) this.#counts.set(key, (c = { method: m, route, code, count: 0 }));
    c.count++;
    if (seconds !== undefined) this.#latency.observe(seconds);
  }

  counts(): ApiRequestCount[] {
    return [...this.#counts.values()].map((c) => ({ ...c }));
  }

  latency(): HistogramSnapshot {
    return this.#latency.snapshot();
  }
}
