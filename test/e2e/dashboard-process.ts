/**
 * `umdevctl dashboard` as a user starts it (bin/umdevctl), optionally as another user (setpriv), for the browser
 * tests: the login URL it prints, and its process, ended by pid in `t.after`. Another user runs the checkout from a
 * world-readable bind of it in a mount namespace of its own, since the checkout may sit in a home only root can enter.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { TestContext } from 'node:test';
import path from 'node:path';
import { BIN } from './umdevd-process.js';

export interface RunningDashboard {
  readonly proc: ChildProcess;
  /** The login URL (with its one-time token). */
  readonly url: string;
  /** `http://host:port`. */
  readonly origin: string;
  readonly stderr: () => string;
}

export async function startDashboard(t: TestContext, args: readonly string[], as?: { uid: number; gid: number }): Promise<RunningDashboard> {
  let proc: ChildProcess;
  if (as === undefined) {
    proc = spawn(process.execPath, [path.join(BIN, 'umdevctl'), 'dashboard', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  } else {
    const view = await mkdtemp(path.join(tmpdir(), 'umdev-checkout-'));
    await chmod(view, 0o755);
    t.after(() => rm(view, { recursive: true, force: true }));
    // unshare and sh exec into setpriv, and setpriv into node: one pid from start to end.
    const script = 'mount --bind "$1" "$2" && shift 2 && exec /usr/bin/setpriv "$@"';
    const cmd = [`--reuid=${as.uid}`, `--regid=${as.gid}`, '--clear-groups', process.execPath, path.join(view, 'bin', 'umdevctl'), 'dashboard', ...args];
    proc = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', path.resolve(BIN, '..'), view, ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
  }
  const exited = once(proc, 'exit');
  t.after(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      try {
        process.kill(proc.pid as number, 'SIGTERM');
      } catch {
        // Gone already.
      }
      await exited;
    }
  });
  let out = '';
  let err = '';
  proc.stdout?.setEncoding('utf8').on('data', (s: string) => (out += s));
  proc.stderr?.setEncoding('utf8').on('data', (s: string) => (err += s));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`umdevctl dashboard printed no URL in 15 s; stderr:\n${err}`)), 15_000);
    proc.stdout?.on('data', () => {
      const m = /^(http:\/\/\S+\/\?token=\S+)$/m.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exited.then(([code]) => {
      clearTimeout(timer);
      reject(new Error(`umdevctl dashboard exited (${String(code)}) before printing its URL; stderr:\n${err}`));
    });
  });
  return { proc, url, origin: new URL(url).origin, stderr: () => err };
}
