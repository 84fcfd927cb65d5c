/**
 * Concepts: what the benches that measure umdevd as shipped share: start the daemon (FUSE, API and device hosts
 * running) in a state dir and stop it, create devices through its sysfs tree, run a C peer that prints `median p99`,
 * and read a process's RSS.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
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

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const mid = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** A running umdevd in `stateDir`. */
export class Daemon {
  readonly stateDir: string;
  readonly #child: ChildProcess;

  private constructor(stateDir: string, child: ChildProcess) {
    this.stateDir = stateDir;
    this.#child = child;
  }

  /** Start umdevd and wait for `umdevd ready`; `config` is written as its config file when given. */
  static async start(stateDir: string, config?: object, nodeArgs: readonly string[] = []): Promise<Daemon> {
    const args = [...SHIPPED_NODE_ARGS, ...nodeArgs, UMDEVD, '--state-dir', stateDir, '--log-level', 'warn'];
    if (config !== undefined) {
      const file = `${stateDir}.config.json`;
      writeFileSync(file, JSON.stringify(config));
      args.push('--config', file);
    }
    const d = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    await untilReady(d);
    return new Daemon(stateDir, d);
  }

  get pid(): number {
    return this.#child.pid!;
  }

  /** Create a device of `type` (`mtty-2`) through the sysfs tree, as mdevctl does; its UUID. */
  create(type = 'mtty-2', parent = 'mtty'): string {
    const uuid = randomUUID();
    writeFileSync(join(this.stateDir, 'sys/class/mdev_bus', parent, 'mdev_supported_types', type, 'create'), uuid);
    return uuid;
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
