// Real fds for the native tests: FIFOs (a pipe reachable by path, since Node cannot call pipe(2)) and temp dirs,
// each removed by the test's own t.after.
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { UmdevError } from '../../src/errors.js';

/** A temp dir removed after the test. */
export function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'umdev-native-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Closes fds with Node's own close so a failing native close cannot hide a leak; already-closed fds are skipped. */
export function closeAfter(t: TestContext, ...fds: number[]): void {
  t.after(() => {
    for (const fd of fds) {
      try {
        closeSync(fd);
      } catch {
        // the test closed it itself
      }
    }
  });
}

/** A pipe: a FIFO opened non-blocking for reading and (blocking) for writing. */
export function fifo(t: TestContext): { r: number; w: number } {
  const path = join(tempDir(t), 'fifo');
  execFileSync('mkfifo', [path]);
  const r = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const w = openSync(path, constants.O_WRONLY);
  closeAfter(t, r, w);
  return { r, w };
}

/** Whether O_NONBLOCK is set, from /proc/self/fdinfo (flags are octal). */
export function isNonBlocking(fd: number): boolean {
  const flags = /flags:\s*([0-7]+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
  return (parseInt(flags ?? '0', 8) & constants.O_NONBLOCK) !== 0;
}

/** Runs `fn` and returns the errno name of the UmdevError it throws. */
export function errnoOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof UmdevError) return e.errno;
    throw e;
  }
  throw new Error('expected an error');
}

/** Resolves after the event loop has turned a few times (enough for a ready fd's poll callback to have run). */
export async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setTimeout(resolve, 5));
}
