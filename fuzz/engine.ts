/**
 * Concepts: the fuzz loop, the same for every target. A target launches the system under test as a child process
 * (so a crash is observed, counted and followed by a relaunch, not the end of the run) and turns a seeded `Rng` into
 * inputs. An input that gets no answer in `HANG_MS` is a hang; one answered after `SLOW_MS` is only slow (counted
 * apart, with the slowest time), because on a loaded machine a create that starts a device host can take seconds
 * without anything being stuck. After every batch the engine ends the batch's connections, probes that a fresh
 * client is served (a probe that does not answer in time is a hang), collects the errors the target saw (bugs that
 * neither crash nor hang), and reads the child's RSS and open fds from /proc. At the end it waits for the fd count to
 * settle and reports what stayed above the baseline as leaked.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { Rng } from './rng.js';

/** The system under test, running. */
export interface Launched {
  readonly pid: number;
  /** Resolves when the child exits, with what it left on stderr. */
  readonly exited: Promise<{ code: number | null; signal: string | null; stderr: string }>;
  /** Send one input; never rejects for what the target answers (errors are the point). */
  input(rng: Rng): Promise<void>;
  /** Close the batch's connections. */
  endBatch(): Promise<void>;
  /** A fresh client is served (VERSION answered, config space read); rejects otherwise. */
  probe(): Promise<void>;
  /** What went wrong without a crash or hang since the last call (a 5xx answer, an error-level log line). */
  takeErrors?(): string[];
  stop(): Promise<void>;
}

/** One fuzz target (`fuzz/targets/<name>.ts` exports `target`). */
export interface FuzzTarget {
  readonly name: string;
  /**
   * Inputs in flight at once (default 1). Above 1 each input gets its own Rng seeded from the run's, in input order,
   * so a seed still names the same inputs; only their interleaving inside the child varies.
   */
  readonly concurrency?: number;
  launch(): Promise<Launched>;
}

export interface FuzzOptions {
  readonly count: number;
  readonly seed: number;
  readonly batch?: number;
  /** Ends the run after the current batch (the child is stopped and the result so far returned). */
  readonly signal?: AbortSignal;
  /** Called after each batch. */
  readonly progress?: (done: number, stats: FuzzResult) => void;
}

/** The final line of a run. */
export interface FuzzResult {
  target: string;
  inputs: number;
  crashes: number;
  hangs: number;
  /** Inputs answered, but only after `SLOW_MS`. */
  slow: number;
  /** The longest any answered input took. */
  slowest_ms: number;
  /** Bugs that neither crashed nor hung the child (`Launched.takeErrors`). */
  errors: number;
  leaked_fds: number;
  /** The most open fds above the baseline seen after any batch (work in flight, not yet a leak). */
  fds_peak: number;
  rss_max_mb: number;
  seed: number;
  /** What went wrong, first few (input index and reason). */
  failures: string[];
}

const SLOW_MS = 5000;
const HANG_MS = 60_000;
const PROBE_TIMEOUT_MS = 10_000;

export async function runFuzz(target: FuzzTarget, options: FuzzOptions): Promise<FuzzResult> {
  const rng = new Rng(options.seed);
  const batch = options.batch ?? 500;
  const lanes = Math.max(1, target.concurrency ?? 1);
  const result: FuzzResult = { target: target.name, inputs: 0, crashes: 0, hangs: 0, slow: 0, slowest_ms: 0, errors: 0, leaked_fds: 0, fds_peak: 0, rss_max_mb: 0, seed: options.seed, failures: [] };
  const fail = (why: string): void => {
    if (result.failures.length < 20) result.failures.push(`input ${result.inputs}: ${why}`);
  };
  let sut = await target.launch();
  let dead = false;
  let stopping = false;
  const watch = (s: Launched): void => {
    void s.exited.then((e) => {
      // An interrupted run's signal reaches the child too (same process group); its clean exit is not a crash.
      if (s !== sut || stopping || options.signal?.aborted === true) return;
      dead = true;
      result.crashes++;
      fail(`child exited (code ${e.code}, signal ${e.signal}): ${e.stderr.slice(-2000)}`);
    });
  };
  watch(sut);
  try {
    await withTimeout(sut.probe(), PROBE_TIMEOUT_MS, 'first probe');
  } catch (e) {
    // Not serving at all: nothing to fuzz, but the child (and whatever it mounted) must not outlive the run.
    stopping = true;
    await sut.stop();
    throw e;
  }
  const baseline = await settledFds(sut.pid);
  while (result.inputs < options.count && options.signal?.aborted !== true) {
    const n = Math.min(batch, options.count - result.inputs);
    let started = 0;
    const lane = async (): Promise<void> => {
      while (started < n && !dead) {
        started++;
        const inputRng = lanes === 1 ? rng : new Rng(rng.u32());
        const begun = performance.now();
        try {
          await withTimeout(sut.input(inputRng), HANG_MS, 'input');
          const took = Math.round(performance.now() - begun);
          result.slowest_ms = Math.max(result.slowest_ms, took);
          if (took > SLOW_MS) result.slow++;
        } catch (e) {
          result.hangs++;
          fail(`input hung: ${(e as Error).message}`);
        }
        result.inputs++;
      }
    };
    await Promise.all(Array.from({ length: lanes }, lane));
    if (!dead) {
      await sut.endBatch();
      try {
        await withTimeout(sut.probe(), PROBE_TIMEOUT_MS, 'probe');
      } catch (e) {
        if (!dead) {
          result.hangs++;
          fail(`probe failed: ${(e as Error).message}`);
        }
      }
    }
    if (!dead) {
      result.rss_max_mb = Math.max(result.rss_max_mb, rssMb(sut.pid));
      for (const e of sut.takeErrors?.() ?? []) {
        result.errors++;
        fail(e);
      }
      const fds = fdCount(sut.pid);
      result.fds_peak = Math.max(result.fds_peak, fds - baseline);
      if (fds > baseline + 512) fail(`${fds - baseline} fds above the baseline after a batch`);
    }
    if (dead) {
      dead = false;
      sut = await target.launch();
      watch(sut);
    }
    options.progress?.(result.inputs, result);
  }
  await sut.endBatch();
  result.leaked_fds = await settledLeak(sut, baseline);
  stopping = true;
  await sut.stop();
  return result;
}

/**
 * The fd count once it has stood still for 400 ms (at most 10 s): a daemon that just answered its first probe may
 * still be starting work of its own (umdevd forks its warm device hosts, each with a channel, a stderr and a pidfd),
 * which is not a leak of the inputs to come.
 */
async function settledFds(pid: number): Promise<number> {
  let last = fdCount(pid);
  let still = 0;
  for (let i = 0; i < 50 && still < 2; i++) {
    await new Promise((r) => setTimeout(r, 200));
    const now = fdCount(pid);
    still = now === last ? still + 1 : 0;
    last = now;
  }
  return last;
}

/** Fds above the baseline once refusal deadlines and session cleanups have run (waits up to 5 s). */
async function settledLeak(sut: Launched, baseline: number): Promise<number> {
  let extra = 0;
  for (let i = 0; i < 50; i++) {
    await sut.probe().catch(() => undefined);
    extra = Math.max(0, fdCount(sut.pid) - baseline);
    if (extra === 0) return 0;
    await new Promise((r) => setTimeout(r, 100));
  }
  return extra;
}

function fdCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

function rssMb(pid: number): number {
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return Math.round(Number(kb ?? 0) / 1024);
  } catch {
    return 0;
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
