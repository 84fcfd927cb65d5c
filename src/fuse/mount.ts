/**
 * Concepts: attaching a `/dev/fuse` session to a directory and detaching it again, without ever blocking the event
 * loop on the mount (a synchronous call that touches the mount while this process serves it deadlocks: only the
 * blocked thread could answer). Mounting needs root: util-linux `mount -i` with the device fd as the child's fd 3.
 * Three ways a mount goes away:
 *  - `unmount()`: async `umount -i -c` (falling back to a lazy `-l` when busy); the session then reads ENODEV.
 *  - `detachSync()`: for `process.on('exit')` only, where the loop no longer serves requests and nothing async runs.
 *  - the watchdog: a detached `sh` holding a pipe from this process; when the process dies (even by SIGKILL) the
 *    pipe closes and the watchdog lazily detaches the mount, so no stale ENOTCONN mount is left behind.
 * Non-root mounting through fusermount3 would need the fd passed back over SCM_RIGHTS and is not supported.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { close, open } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { err, UmdevError } from '../core/errors.js';
import { MAX_WRITE } from './protocol.js';

/** How to mount: `name` becomes the filesystem type suffix (`fuse.<name>`) and the source shown in mountinfo. */
export interface MountOptions {
  readonly name: string;
  readonly mountpoint: string;
  /** The FUSE device; `/dev/fuse` unless a test points elsewhere. */
  readonly device?: string;
}

const openAsync = promisify(open);
const closeAsync = promisify(close);

/** Runs a command to completion without blocking the loop; resolves with its exit code and stderr. */
function run(cmd: string, args: readonly string[], stdio: (number | 'ignore' | 'pipe')[] = ['ignore', 'ignore', 'pipe']): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', (e) => reject(err('ENOENT', `cannot run ${cmd}: ${e.message}`, e)));
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stderr: stderr.trim() }));
  });
}

/** Whether `mountpoint` is in this process's mount table. */
async function isMounted(mountpoint: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info.split('\n').some((line) => unescapeMountinfo(line.split(' ')[4] ?? '') === mountpoint);
}

/** mountinfo escapes space, tab, newline and backslash as octal (`\040`). */
function unescapeMountinfo(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Lazily detaches a mount left by a server that died (its mountpoint answers ENOTCONN). */
async function clearStaleMount(mountpoint: string): Promise<void> {
  try {
    await stat(mountpoint);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOTCONN') return; // ENOENT etc.: mount reports it plainly.
    await run('umount', ['-i', '-c', '-l', mountpoint]);
  }
}

/** Starts the watchdog that detaches `mountpoint` once this process is gone; see the module comment. */
function startWatchdog(mountpoint: string): ChildProcess {
  const child = spawn('sh', ['-c', 'cat >/dev/null; umount -i -c -l "$0" 2>/dev/null', mountpoint], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  child.on('error', () => undefined); // sh missing: nothing to watch with; the exit hook still detaches.
  child.unref();
  // The pipe must not keep this process alive; it only has to stay open while the process lives.
  (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return child;
}

/** A live mount of one `/dev/fuse` session. Owns the device fd until `closeFd()`. */
export class FuseMount {
  readonly fd: number;
  readonly mountpoint: string;
  #watchdog: ChildProcess | undefined;
  #unmounted = false;
  #fdClosed = false;

  constructor(fd: number, mountpoint: string, watchdog: ChildProcess) {
    this.fd = fd;
    this.mountpoint = mountpoint;
    this.#watchdog = watchdog;
  }

  /** Detaches the mount (the session then reads ENODEV). Idempotent; never touches the filesystem's contents. */
  async unmount(): Promise<void> {
    if (this.#unmounted) return;
    this.#unmounted = true;
    this.#stopWatchdog();
    const plain = await run('umount', ['-i', '-c', this.mountpoint]);
    if (plain.code === 0) return;
    const lazy = await run('umount', ['-i', '-c', '-l', this.mountpoint]);
    // Unmounted by someone else already: the goal is reached.
    if (lazy.code !== 0 && (await isMounted(this.mountpoint))) throw err('EBUSY', `umount ${this.mountpoint}: ${plain.stderr}; lazy: ${lazy.stderr}`);
  }

  /**
   * Lazy synchronous detach, for `process.on('exit')` only: there the loop has stopped serving, so umount cannot wait
   * on this process, and a parked device read would otherwise keep the process from exiting.
   */
  detachSync(): void {
    if (this.#unmounted) return;
    this.#unmounted = true;
    this.#stopWatchdog();
    spawnSync('umount', ['-i', '-c', '-l', this.mountpoint], { stdio: 'ignore' });
  }

  /** Closes the device fd (after the session has ended). Idempotent. */
  async closeFd(): Promise<void> {
    if (this.#fdClosed) return;
    this.#fdClosed = true;
    await closeAsync(this.fd);
  }

  #stopWatchdog(): void {
    const w = this.#watchdog;
    this.#watchdog = undefined;
    if (w?.pid === undefined) return;
    // Kill its whole group (sh and its cat) before its pipe closes, or it would detach whatever is mounted here later.
    try {
      process.kill(-w.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
    w.stdin?.destroy();
  }
}

/**
 * Opens `/dev/fuse` and mounts it at `mountpoint` (root only). Fails with ENODEV when the kernel has no FUSE device,
 * EPERM when mounting is not permitted, ENOENT for a missing mountpoint, and EIO with mount's own message otherwise. The caller starts reading the fd
 * only after this resolves (a read before the mount completes fails with EPERM).
 */
export async function mountFuse(opts: MountOptions): Promise<FuseMount> {
  let fd: number;
  try {
    fd = await openAsync(opts.device ?? '/dev/fuse', 'r+');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENODEV' || code === 'ENXIO') throw err('ENODEV', 'no /dev/fuse: the kernel has no FUSE device (modprobe fuse)', e);
    if (code === 'EACCES' || code === 'EPERM') throw err('EPERM', `cannot open /dev/fuse: ${(e as Error).message}`, e);
    throw err('EIO', `cannot open /dev/fuse: ${(e as Error).message}`, e);
  }
  try {
    await clearStaleMount(opts.mountpoint);
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    // No default_permissions: the kernel would then refresh attributes with a GETATTR before every permission check
    // (timeouts are 0), doubling the requests; the server checks modes itself, against the request's uid.
    const options = `fd=3,rootmode=40000,user_id=${uid},group_id=${gid},allow_other,max_read=${MAX_WRITE}`;
    const r = await run('mount', ['-i', '-n', '-t', `fuse.${opts.name}`, '-o', options, opts.name, opts.mountpoint], ['ignore', 'ignore', 'pipe', fd]);
    if (r.code !== 0) {
      const denied = /superuser|only root|permission denied|not permitted/i.test(r.stderr);
      const missing = /does not exist|no such file/i.test(r.stderr);
      throw err(denied ? 'EPERM' : missing ? 'ENOENT' : 'EIO', `mount ${opts.mountpoint}: ${r.stderr || `exit ${r.code}`}`);
    }
    return new FuseMount(fd, opts.mountpoint, startWatchdog(opts.mountpoint));
  } catch (e) {
    await closeAsync(fd).catch(() => undefined);
    throw e instanceof UmdevError ? e : err('EIO', `mount ${opts.mountpoint}: ${(e as Error).message}`, e);
  }
}
