/**
 * Helpers for end-to-end tests of the built `umdevd`: spawn it on a state dir, wait for its `umdevd ready` line,
 * stop it by pid, and clean up mounts it may have left (registered with `t.after`, so they run even on failure).
 */
import { exec, isMounted, type ExecResult } from '../process.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { TestContext } from 'node:test';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built daemon entry point (dist/src/daemon/main.js). */
export const UMDEVD = fileURLToPath(new URL('../../src/daemon/main.js', import.meta.url));
export const UMDEVCTL = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
export const UMDEV_UART = fileURLToPath(new URL('../../src/tools/umdev-uart.js', import.meta.url));
/** The checkout's bin/, as the README runs the commands (dist/test/e2e → ../../../bin). */
export const BIN = fileURLToPath(new URL('../../../bin/', import.meta.url));

/** How to start the daemon: through `bin/umdevd` as the README does (default: node on the built file), with `env`. */
export interface StartOptions {
  readonly viaBin?: boolean;
  readonly env?: NodeJS.ProcessEnv;
  readonly timeoutMs?: number;
  /** Run inside this network namespace (`ip netns exec`, which execs: the pid is the daemon's). */
  readonly netns?: string;
  /** Another built entry point than umdevd's own (a test build of umdevd with more drivers). */
  readonly entry?: string;
}

/** A running daemon. `stderr` accumulates everything it logged. */
export interface RunningDaemon {
  readonly proc: ChildProcess;
  readonly pid: number;
  /** The API's Unix socket (what `call` and `--api` take). */
  readonly url: string;
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Start umdevd on `stateDir` and wait (at most `timeoutMs`) for `umdevd ready`; fails with its stderr if it dies. */
export async function startDaemon(stateDir: string, extraArgs: readonly string[] = [], opts: StartOptions = {}): Promise<RunningDaemon> {
  const timeoutMs = opts.timeoutMs ?? 30000;
  const args = ['--state-dir', stateDir, ...extraArgs];
  const proc = opts.viaBin === true
    ? spawn(path.join(BIN, 'umdevd'), args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env })
    : opts.netns !== undefined
      ? spawn('ip', ['netns', 'exec', opts.netns, process.execPath, UMDEVD, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env })
      : spawn(process.execPath, [opts.entry ?? UMDEVD, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env });
  let out = '';
  let err = '';
  proc.stdout?.setEncoding('utf8').on('data', (s: string) => (out += s));
  proc.stderr?.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = once(proc, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`umdevd not ready after ${timeoutMs} ms; stderr:\n${err}`)), timeoutMs);
    const check = (): void => {
      if (out.split('\n').includes('umdevd ready')) {
        clearTimeout(timer);
        resolve();
      }
    };
    proc.stdout?.on('data', check);
    void exited.then((x) => {
      clearTimeout(timer);
      reject(new Error(`umdevd exited (${x.code ?? x.signal}) before ready; stderr:\n${err}`));
    });
  });
  try {
    await ready;
  } catch (e) {
    if (proc.exitCode === null) proc.kill('SIGKILL');
    throw e;
  }
  const info = JSON.parse(await readFile(path.join(stateDir, 'api.json'), 'utf8')) as { socket: string };
  return { proc, pid: proc.pid as number, url: info.socket, stdout: () => out, stderr: () => err, exited };
}

/** Wait (at most `timeoutMs`) until the daemon's stderr contains `text`; stdout and stderr are separate pipes. */
export async function waitForStderr(d: RunningDaemon, text: string, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!d.stderr().includes(text)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/** Kill by pid if still running (SIGKILL), and wait for the exit. */
export async function killDaemon(d: RunningDaemon): Promise<void> {
  if (d.proc.exitCode === null && d.proc.signalCode === null) {
    try {
      process.kill(d.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  await d.exited;
}

export { isMounted };

/** Detach `dir` if it is still mounted (lazy: never blocks on a dead server). */
export async function unmountIfMounted(dir: string): Promise<void> {
  if (!(await isMounted(dir))) return;
  const p = spawn('umount', ['-i', '-c', '-l', dir], { stdio: 'ignore' });
  await once(p, 'exit');
}

/** Run a command to completion; resolves with exit code and output (never rejects on a non-zero exit). */
export function run(cmd: string, args: readonly string[], input?: string): Promise<ExecResult> {
  return exec(cmd, args, { input });
}

/** A temp state dir for daemons started with `start`; they are killed and the mount and dir removed in `t.after`. */
export interface StateDir {
  readonly dir: string;
  readonly daemons: RunningDaemon[];
}

/** Make a state dir (named `<prefix>XXXXXX` in the temp dir) whose cleanup runs even when the test fails. */
export async function stateDir(t: TestContext, prefix = 'umdevd-e2e-'): Promise<StateDir> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  const daemons: RunningDaemon[] = [];
  t.after(async () => {
    for (const d of daemons) await killDaemon(d);
    await unmountIfMounted(path.join(dir, 'sys'));
    await rm(dir, { recursive: true, force: true });
  });
  return { dir, daemons };
}

/** Start umdevd on the state dir; the daemon is killed by the state dir's cleanup. */
export async function start(ctx: StateDir, args: readonly string[] = [], opts: StartOptions = {}): Promise<RunningDaemon> {
  const d = await startDaemon(ctx.dir, args, opts);
  ctx.daemons.push(d);
  return d;
}
