/**
 * Concepts: what the benches that measure umdevd as shipped share: start the daemon (FUSE, API and device hosts
 * running) in a state dir and stop it, create devices through its sysfs tree, run a C peer that prints `median p99`,
 * and read a process's RSS.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const UMDEVD = fileURLToPath(new URL('../src/daemon/main.js', import.meta.url));
/** The V8 flags bin/umdevd starts the daemon with, so a bench measures the daemon as shipped. */
const SHIPPED_NODE_ARGS = ['--max-semi-space-size=1'];
/** The PCI config region's index (VFIO_PCI_CONFIG_REGION_INDEX). */
export const CONFIG_REGION = '7';

export interface Timing {
  readonly median: number;
  readonly p99: number;
}

/** Run a C timing peer to completion; it prints one `median p99` line (ns) per target. */
export function runPeer(bin: string, args: readonly string[]): Promise<Timing[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const lines = out.trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number));
      const ok = code === 0 && lines.length > 0 && lines.every((l) => l.length === 2 && l.every(Number.isFinite));
      if (!ok) reject(new Error(`${bin} exited ${code}: ${out}`));
      else resolve(lines.map(([median, p99]) => ({ median: median!, p99: p99! })));
    });
  });
}

/** Run a C timing client on one socket; its `median p99`. */
export async function runClient(bin: string, args: readonly string[]): Promise<Timing> {
  return (await runPeer(bin, args))[0]!;
}

/** RSS in KiB of `pid`, 0 once it is gone. */
export function rssKiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** The pids whose parent is `pid`. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/status`, 'utf8').includes(`\nPPid:\t${pid}\n`)) out.push(Number(name));
    } catch {
      // Gone while we looked.
    }
  }
  return out;
}

/** Resolves once a umdevd started with its stdout piped prints `umdevd ready`; rejects if it exits first. */
export function untilReady(d: ChildProcess): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let out = '';
    d.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('umdevd ready')) resolve();
    });
    d.once('exit', (code) => reject(new Error(`umdevd exited ${code} before ready`)));
  });
}

/** The machine's 1-minute load average, to two decimals (benches report it: figures on a loaded machine differ). */
export const load1 = (): number => Number(loadavg()[0]!.toFixed(2));

/** CPU time (user + system) `pid` has used, in ms; 0 once it is gone. */
export function cpuMs(pid: number): number {
  // Every thread's time on a CPU in ns (/proc/PID/task/TID/schedstat): /proc/PID/stat counts in 10 ms ticks, which
  // a short run at a low request rate spends only a few of, so one tick more or less would move a ratio by a third.
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    if (Number.isFinite(ns)) return ns / 1e6;
  } catch {
    // A thread that ended between the listing and its read, or no schedstat: the ticks then.
  }
  try {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th, in clock ticks.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}
/** Linux's USER_HZ, the unit of /proc/PID/stat times. */
const CLOCK_TICKS = 100;

/** Every process umdevd `pid` started for its device hosts: the zygote and every host, warm or holding a device. */
export function hostProcesses(pid: number): number[] {
  const mine = childPids(pid);
  const isHost = (p: number): boolean => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('host-main.js');
    } catch {
      return false;
    }
  };
  return [...mine, ...mine.flatMap((c) => childPids(c))].filter(isHost);
}

/** A device host of umdevd `pid` as /proc shows it: holding a device (confined), or warm (booted, holding nothing). */
export interface HostInfo {
  readonly pid: number;
  readonly held: boolean;
}

/** umdevd's device hosts: its children and the hosts its zygote forked (the zygote itself is not one). */
export function deviceHosts(pid: number): HostInfo[] {
  const out: HostInfo[] = [];
  const mine = childPids(pid);
  // The zygote is umdevd's child started --single-threaded; the hosts it forks are its children.
  const isZygote = (p: number): boolean => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').includes('--single-threaded');
    } catch {
      return false;
    }
  };
  const zygotes = mine.filter(isZygote);
  for (const child of [...mine.filter((p) => !zygotes.includes(p)), ...zygotes.flatMap((z) => childPids(z))]) {
    try {
      if (!readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('host-main.js')) continue;
      const status = readFileSync(`/proc/${child}/status`, 'utf8');
      out.push({ pid: child, held: !/\nSeccomp:\t0\n/.test(status) });
    } catch {
      // Gone while we looked.
    }
  }
  return out;
}

/**
 * Resolves once umdevd's warm pool is full and idle: `warm` unconfined hosts whose CPU time stood still for 300 ms
 * (booting hosts burn CPU; warm ones wait).
 */
export async function poolSettled(pid: number, warm: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  let still = 0;
  while (Date.now() < deadline) {
    const spare = deviceHosts(pid).filter((h) => !h.held);
    const cpu = spare.reduce((n, h) => n + cpuMs(h.pid), 0);
    still = spare.length === warm && cpu === last ? still + 1 : 0;
    if (still >= 3) return;
    last = cpu;
    await sleep(100);
  }
  const hosts = deviceHosts(pid);
  throw new Error(`umdevd's warm pool did not settle at ${warm} hosts in ${timeoutMs} ms (${hosts.filter((h) => !h.held).length} warm, ${hosts.filter((h) => h.held).length} held)`);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const mid = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** A running umdevd in `stateDir`. */
export class Daemon {
  readonly stateDir: string;
  readonly #child: ChildProcess;
  #stderr = '';

  private constructor(stateDir: string, child: ChildProcess) {
    this.stateDir = stateDir;
    this.#child = child;
  }

  /** Start umdevd and wait for `umdevd ready`; `config` is written as its config file when given. */
  static async start(stateDir: string, config?: object, nodeArgs: readonly string[] = [], o: { captureStderr?: boolean } = {}): Promise<Daemon> {
    const args = [...SHIPPED_NODE_ARGS, ...nodeArgs, UMDEVD, '--state-dir', stateDir, '--log-level', 'warn'];
    if (config !== undefined) {
      const file = `${stateDir}.config.json`;
      writeFileSync(file, JSON.stringify(config));
      args.push('--config', file);
    }
    const d = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', o.captureStderr === true ? 'pipe' : 'inherit'] });
    const daemon = new Daemon(stateDir, d);
    d.stderr?.on('data', (b: Buffer) => (daemon.#stderr += b.toString()));
    await untilReady(d);
    return daemon;
  }

  get pid(): number {
    return this.#child.pid!;
  }

  /** What umdevd wrote on stderr so far (only when started with `captureStderr`). */
  get stderr(): string {
    return this.#stderr;
  }

  /** Create a device of `type` (`mtty-2`) through the sysfs tree, as mdevctl does; its UUID. */
  create(type = 'mtty-2', parent = 'mtty'): string {
    const uuid = randomUUID();
    writeFileSync(join(this.stateDir, 'sys/class/mdev_bus', parent, 'mdev_supported_types', type, 'create'), uuid);
    return uuid;
  }

  /** Remove a device through the sysfs tree, as mdevctl stop does. */
  remove(uuid: string): void {
    writeFileSync(join(this.stateDir, 'sys/bus/mdev/devices', uuid, 'remove'), '1');
  }

  socket(uuid: string): string {
    return join(this.stateDir, 'run', `${uuid}.sock`);
  }

  /** SIGTERM and wait for the exit (unmount, sockets closed). */
  async stop(): Promise<void> {
    const d = this.#child;
    if (d.exitCode !== null || d.signalCode !== null) return;
    const gone = new Promise((r) => d.once('exit', r));
    d.kill('SIGTERM');
    await gone;
  }
}
