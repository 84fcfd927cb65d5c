/**
 * Concepts: what a device records about its use, for the dashboard and `GET /metrics`: monotonic totals (vfio-user
 * requests and the failed ones, interrupts delivered, DMA maps and unmaps, bytes moved by DMA), a histogram of
 * request latencies, and who holds the device now. It lives with the device's model, so in the one process that
 * runs that model (umdevd for a device served in-process, else the device's host), and is made on first use, so an
 * idle device carries none. `snapshot()` and `client` are plain data that can cross a process boundary;
 * `parseDeviceCounters` and `parseClientInfo` check such data field by field where it arrives (the root never
 * believes a host's numbers unchecked).
 */
import { err } from '../errors.js';

/**
 * Upper bounds (seconds) of the request-latency buckets: a REGION_READ answered in-process takes a few µs, one
 * through a device host tens of µs, a DMA-heavy or migration command milliseconds. Fixed, so every device's
 * histogram sums with every other's, and the series count per device is known (bounds + 3).
 */
export const LATENCY_BOUNDS_S: readonly number[] = [0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.05, 0.25];

/** A latency histogram: `counts[i]` requests took at most `bounds[i]` (and more than the bound before); the last slot is above every bound. */
export interface LatencyHistogram {
  readonly bounds: readonly number[];
  /** One per bound plus one for "slower than all" (not cumulative). */
  readonly counts: readonly number[];
  /** Seconds, summed over every request. */
  readonly sum: number;
  readonly count: number;
}

/** Monotonic totals since the device was created (a device host keeps them for the device's whole life). Plain data. */
export interface DeviceCounters {
  /** vfio-user commands handled (replies sent or due), failures included. */
  readonly requests: number;
  /** Commands answered with an error. */
  readonly errors: number;
  /** Interrupts delivered to the client (eventfd signals). */
  readonly interrupts: number;
  /** DMA windows the client mapped, and unmapped. */
  readonly dmaMaps: number;
  readonly dmaUnmaps: number;
  /** Bytes the device read or wrote in guest memory. */
  readonly dmaBytes: number;
  readonly latency: LatencyHistogram;
}

/** The vfio-user client holding a device, from the socket's SO_PEERCRED; `since` is ms since the epoch. Plain data. */
export interface ClientInfo {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
  readonly since: number;
}

/** Zero counters: what a device that was never used reports. */
export function zeroCounters(): DeviceCounters {
  return { requests: 0, errors: 0, interrupts: 0, dmaMaps: 0, dmaUnmaps: 0, dmaBytes: 0, latency: { bounds: LATENCY_BOUNDS_S, counts: LATENCY_BOUNDS_S.map(() => 0).concat(0), sum: 0, count: 0 } };
}

/** The recorder a device's model owns (see `VfioDevice.activity`). Counting costs a few array writes, no allocation. */
export class DeviceActivity {
  #requests = 0;
  #errors = 0;
  #interrupts = 0;
  #dmaMaps = 0;
  #dmaUnmaps = 0;
  #dmaBytes = 0;
  readonly #buckets = new Float64Array(LATENCY_BOUNDS_S.length + 1);
  #sum = 0;
  #client: ClientInfo | undefined;

  /** One command handled in `seconds`; `failed` when it was answered with an error. */
  request(seconds: number, failed: boolean): void {
    this.#requests++;
    if (failed) this.#errors++;
    this.#sum += seconds;
    let i = 0;
    while (i < LATENCY_BOUNDS_S.length && seconds > LATENCY_BOUNDS_S[i]!) i++;
    this.#buckets[i]!++;
  }

  interrupt(): void {
    this.#interrupts++;
  }

  dmaMap(): void {
    this.#dmaMaps++;
  }

  dmaUnmap(): void {
    this.#dmaUnmaps++;
  }

  dma(bytes: number): void {
    this.#dmaBytes += bytes;
  }

  /** A client connected (its credentials, read once from the socket); replaces any previous one. Returns what `detach` takes. */
  attach(client: Omit<ClientInfo, 'since'>, now = Date.now()): ClientInfo {
    this.#client = { pid: client.pid, uid: client.uid, gid: client.gid, since: now };
    return this.#client;
  }

  /** `client` went away; a later client that attached meanwhile stays. */
  detach(client: ClientInfo): void {
    if (this.#client === client) this.#client = undefined;
  }

  /** Who holds the device now, if anyone. */
  get client(): ClientInfo | undefined {
    return this.#client;
  }

  snapshot(): DeviceCounters {
    return {
      requests: this.#requests,
      errors: this.#errors,
      interrupts: this.#interrupts,
      dmaMaps: this.#dmaMaps,
      dmaUnmaps: this.#dmaUnmaps,
      dmaBytes: this.#dmaBytes,
      latency: { bounds: LATENCY_BOUNDS_S, counts: Array.from(this.#buckets), sum: this.#sum, count: this.#requests },
    };
  }
}

/**
 * The activity recorder of a model that keeps one, without making one: `recordedActivity` where the model has it
 * (`PciDevice`), else `activity`. Undefined for a model that recorded nothing yet, or keeps no recorder.
 */
export function activityOf(model: unknown): DeviceActivity | undefined {
  if (typeof model !== 'object' || model === null) return undefined;
  const m = model as { recordedActivity?: unknown; activity?: unknown };
  const a = 'recordedActivity' in m ? m.recordedActivity : m.activity;
  return a instanceof DeviceActivity ? a : undefined;
}

const COUNT_FIELDS = ['requests', 'errors', 'interrupts', 'dmaMaps', 'dmaUnmaps', 'dmaBytes'] as const;

function count(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw err('EINVAL', `${what}: expected a count, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * `DeviceCounters` from data another process sent: every field present and in range, the buckets exactly the
 * known bounds (so a host cannot grow the root's series) and summing to `count`. EINVAL naming the first bad field.
 */
export function parseDeviceCounters(v: unknown): DeviceCounters {
  if (typeof v !== 'object' || v === null) throw err('EINVAL', 'counters: expected an object');
  const o = v as Record<string, unknown>;
  const out: Record<string, number> = {};
  for (const k of COUNT_FIELDS) out[k] = count(o[k], `counters.${k}`);
  const l = o.latency;
  if (typeof l !== 'object' || l === null) throw err('EINVAL', 'counters.latency: expected an object');
  const h = l as Record<string, unknown>;
  const bounds = h.bounds;
  if (!Array.isArray(bounds) || bounds.length !== LATENCY_BOUNDS_S.length || bounds.some((b, i) => b !== LATENCY_BOUNDS_S[i])) {
    throw err('EINVAL', 'counters.latency.bounds: not the known bucket bounds');
  }
  const counts = h.counts;
  if (!Array.isArray(counts) || counts.length !== LATENCY_BOUNDS_S.length + 1) throw err('EINVAL', 'counters.latency.counts: wrong length');
  const cs = counts.map((c, i) => count(c, `counters.latency.counts[${i}]`));
  const total = count(h.count, 'counters.latency.count');
  if (cs.reduce((a, b) => a + b, 0) !== total) throw err('EINVAL', 'counters.latency: buckets do not sum to count');
  const sum = h.sum;
  if (typeof sum !== 'number' || !Number.isFinite(sum) || sum < 0) throw err('EINVAL', 'counters.latency.sum: expected a non-negative number');
  return {
    requests: out.requests!,
    errors: out.errors!,
    interrupts: out.interrupts!,
    dmaMaps: out.dmaMaps!,
    dmaUnmaps: out.dmaUnmaps!,
    dmaBytes: out.dmaBytes!,
    latency: { bounds: LATENCY_BOUNDS_S, counts: cs, sum, count: total },
  };
}

/** `ClientInfo` from data another process sent; EINVAL for anything out of range. */
export function parseClientInfo(v: unknown): ClientInfo {
  if (typeof v !== 'object' || v === null) throw err('EINVAL', 'client: expected an object');
  const o = v as Record<string, unknown>;
  const id = (k: string): number => {
    const x = o[k];
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > 0xffffffff) throw err('EINVAL', `client.${k}: expected an id, got ${JSON.stringify(x)}`);
    return x;
  };
  const since = o.since;
  if (typeof since !== 'number' || !Number.isFinite(since) || since < 0) throw err('EINVAL', 'client.since: expected a time');
  return { pid: id('pid'), uid: id('uid'), gid: id('gid'), since };
}
