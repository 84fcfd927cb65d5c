/**
 * Child processes and mount checks shared by the suites. Everything is asynchronous: several suites serve a FUSE
 * mount from the test process itself, and a synchronous child would block the loop that must answer it.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

/** How a child ended: its exit code (-1 when a signal or the timeout ended it) and what it printed. */
export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ExecOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Run as this user and group (both default to the test's own). */
  readonly uid?: number;
  readonly gid?: number;
  readonly cwd?: string;
  /** Written to the child's stdin, which is then closed. */
  readonly input?: string;
  readonly timeoutMs?: number;
}

/** Run `file args…` to completion; rejects only when it could not be started (e.g. not installed). */
export function exec(file: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { env: options.env, uid: options.uid, gid: options.gid, cwd: options.cwd, timeout: options.timeoutMs ?? 30_000, maxBuffer: 1 << 24 },
      (e, stdout, stderr) => {
        if (e && typeof e.code === 'string') return reject(e);
        resolve({ code: e ? (typeof e.code === 'number' ? e.code : -1) : 0, stdout, stderr });
      },
    );
    // A command that exits without reading its input must not fail the caller with EPIPE.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(options.input);
  });
}

/** True when `dir` is a mount point in this process's mount namespace (mountinfo escapes spaces as \040). */
export async function isMounted(dir: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const target = path.resolve(dir);
  return info.split('\n').some((l) => l.split(' ')[4]?.replace(/\\040/g, ' ') === target);
}

/** Polls `cond` until it holds; fails naming `what` after `ms`. For conditions another process or the loop makes true. */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
