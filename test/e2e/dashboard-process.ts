/**
 * `umdevctl dashboard` as a user starts it (bin/umdevctl), optionally as another user (setpriv), for the browser
 * tests: the login URL it prints, and its process, ended by pid in `t.after`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
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
  const cmd = [process.execPath, path.join(BIN, 'umdevctl'), 'dashboard', ...args];
  const proc = as === undefined
    ? spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn('/usr/bin/setpriv', [`--reuid=${as.uid}`, `--regid=${as.gid}`, '--clear-groups', ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
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
