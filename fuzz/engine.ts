/**
 * Concepts: the fuzz loop, the same for every target. A target launches the system under test as a child process
 * (so a crash is observed, counted and followed by a relaunch, not the end of the run) and turns a seeded `Rng` into
 * inputs. After every batch the engine ends the batch's connections, probes that a fresh client is served (a probe
 * that does not answer in time is a hang), and reads the child's RSS and open fds from /proc. At the end it waits for
 * the fd count to settle and reports what stayed above the baseline as leaked.
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
  stop(): Promise<void>;
}

/** One fuzz target (`fuzz/targets/<name>.ts` exports `target`). */
export interface FuzzTarget {
  readonly name: string;
  launch(): Promise<Launched>;
}

export interface FuzzOptions {
  readonly count: number;
  readonly seed: number;
  readonly batch?: number;
  /** Called after each batch. */
  readonly progress?: (done: number, stats: FuzzResult) => void;
}

/** The final line of a run. */
export interface FuzzResult {
  target: string;
  inputs: number;
  crashes: number;
  hangs: number;
  leaked_fds: number;
  rss_max_mb: number;
  seed: number;
  /** What went wrong, first few (input index and reason). */
  failures: string[];
}

const INPUT_TIMEOUT_MS = 5000;
const PROBE_TIMEOUT_MS = 10_000;

export async function runFuzz(target: FuzzTarget, options: FuzzOptions): Promise<FuzzResult> {
  const rng = new Rng(options.seed);
  const batch = options.batch ?? 500;
  const result: FuzzResult = { target: target.name, inputs: 0, crashes: 0, hangs: 0, leaked_fds: 0, rss_max_mb: 0, seed: options.seed, failures: [] };
  const fail = (why: string): void => {
    if (result.failures.length < 20) result.failures.push(`input ${result.inputs}: ${why}`);
  };
  let sut = await target.launch();
  let dead = false;
  let stopping = false;
  const watch = (s: Launched): void => {
    void s.exited.then((e) => {
      if (s !== sut || stopping) return;
      dead = true;
      result.crashes++;
      fail(`child exited (code ${e.code}, signal ${e.signal}): ${e.stderr.slice(-2000)}`);
    });
  };
  watch(sut);
  await withTimeout(sut.probe(), PROBE_TIMEOUT_MS, 'first probe');
  const baseline = fdCount(sut.pid);
  while (result.inputs < options.count) {
    const n = Math.min(batch, options.count - result.inputs);
    for (let i = 0; i < n && !dead; i++) {
      try {
        await withTimeout(sut.input(rng), INPUT_TIMEOUT_MS, 'input');
      } catch (e) {
        result.hangs++;
        fail(`input hung: ${(e as Error).message}`);
      }
      result.inputs++;
    }
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
      const fds = fdCount(sut.pid);
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
