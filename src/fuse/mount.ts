/**
 * Concepts: attaching a `/dev/fuse` session to a directory and detaching it again, without ever blocking the event
 * loop on the mount (a synchronous call that touches the mount while this process serves it deadlocks: only the
 * blocked thread could answer). Two ways in: as root, util-linux `mount -i` with the device fd as the child's fd 3;
 * otherwise the setuid `fusermount3`, which passes the fd back (fusermount.ts). The same tool family takes the mount
 * down again (`umount -i -c` or `fusermount3 -u`). Three ways a mount goes away:
 *  - `unmount()`: an async unmount, falling back to a lazy one when busy; the session then reads ENODEV.
 *  - `detachSync()`: for `process.on('exit')` only, where the loop no longer serves requests and nothing async runs.
 *  - the watchdog: a detached `sh` holding a pipe from this process; when the process dies (even by SIGKILL) the
 *    pipe closes and the watchdog lazily detaches the mount, so no stale ENOTCONN mount is left behind.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { close, open } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { err, UmdevError } from '../errors.js';
import { FUSERMOUNT, fusermountMissing, fusermountMount, fusermountOptions } from './fusermount.js';
import { MAX_WRITE } from './protocol.js';

/**
 * Which tool mounts: `mount` (needs root), `fusermount3` (setuid helper, any user), or `auto`: `mount` when running
 * as root, else `fusermount3`.
 */
export type MountMethod = 'auto' | 'mount' | 'fusermount3';

/** How to mount: `name` becomes the filesystem type suffix (`fuse.<name>`) and the source shown in mountinfo. */
export interface MountOptions {
  readonly name: string;
  readonly mountpoint: string;
  /** The FUSE device; `/dev/fuse` unless a test points elsewhere. Only `mount` can use another (fusermount3 opens its own). */
  readonly device?: string;
  /** Default `auto`. */
  readonly method?: MountMethod;
}

/** The commands that take one mount down; `lazy` detaches even when busy, without touching the mountpoint. */
interface Unmounter {
  readonly plain: readonly [string, string[]];
  readonly lazy: readonly [string, string[]];
}

function unmounterFor(method: 'mount' | 'fusermount3', mountpoint: string): Unmounter {
  if (method === 'mount') return { plain: ['umount', ['-i', '-c', mountpoint]], lazy: ['umount', ['-i', '-c', '-l', mountpoint]] };
  return { plain: [FUSERMOUNT, ['-u', '--', mountpoint]], lazy: [FUSERMOUNT, ['-u', '-z', '--', mountpoint]] };
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
async function clearStaleMount(un: Unmounter, mountpoint: string): Promise<void> {
  try {
    await stat(mountpoint);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOTCONN') return; // ENOENT etc.: mount reports it plainly.
    await run(...un.lazy);
  }
}

/** Starts the watchdog that detaches the mount once this process is gone; see the module comment. */
function startWatchdog(un: Unmounter): ChildProcess {
  // The lazy command's words are constants; only the mountpoint (its last argument) is passed as data, as `$0`.
  const [cmd, args] = un.lazy;
  const detach = [cmd, ...args.slice(0, -1)].join(' ');
  const child = spawn('sh', ['-c', `cat >/dev/null; ${detach} "$0" 2>/dev/null`, args[args.length - 1]!], {
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
  readonly #un: Unmounter;
  #watchdog: ChildProcess | undefined;
  #unmounted = false;
  #fdClosed = false;

  constructor(fd: number, mountpoint: string, un: Unmounter) {
    this.fd = fd;
    this.mountpoint = mountpoint;
    this.#un = un;
    this.#watchdog = startWatchdog(un);
  }

  /** Detaches the mount (the session then reads ENODEV). Idempotent; never touches the filesystem's contents. */
  async unmount(): Promise<void> {
    if (this.#unmounted) return;
    this.#unmounted = true;
    this.#stopWatchdog();
    const plain = await run(...this.#un.plain);
    if (plain.code === 0) return;
    const lazy = await run(...this.#un.lazy);
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
    spawnSync(this.#un.lazy[0], this.#un.lazy[1], { stdio: 'ignore' });
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

/** The method `auto` stands for in this process. */
function resolveMethod(method: MountMethod | undefined): 'mount' | 'fusermount3' {
  if (method === 'mount' || method === 'fusermount3') return method;
  return process.getuid?.() === 0 ? 'mount' : 'fusermount3';
}

/**
 * Mounts a FUSE session at `mountpoint` (see `MountMethod`), after detaching a stale mount there. Fails with ENODEV
 * when the kernel has no FUSE device, EPERM when mounting is not permitted, ENOENT for a missing mountpoint, ENOSYS
 * when fusermount3 is needed but missing, and EIO with the tool's own message otherwise. The caller starts reading
 * the fd only after this resolves (a read before the mount completes fails with EPERM).
 */
export async function mountFuse(opts: MountOptions): Promise<FuseMount> {
  const method = resolveMethod(opts.method);
  const un = unmounterFor(method, opts.mountpoint);
  if (method === 'mount') return mountAsRoot(opts, un);
  if (opts.device !== undefined && opts.device !== '/dev/fuse') throw err('EINVAL', `${FUSERMOUNT} always opens /dev/fuse, not ${opts.device}`);
  try {
    await clearStaleMount(un, opts.mountpoint);
  } catch (e) {
    throw (e as UmdevError).errno === 'ENOENT' ? fusermountMissing(e) : e;
  }
  const fd = await fusermountMount(opts.mountpoint, await fusermountOptions(opts.name, process.getuid?.() ?? 0));
  try {
    return new FuseMount(fd, opts.mountpoint, un);
  } catch (e) {
    await closeAsync(fd).catch(() => undefined);
    throw e;
  }
}

/** `mount -i` with the device as the child's fd 3 (root only). */
async function mountAsRoot(opts: MountOptions, un: Unmounter): Promise<FuseMount> {
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
    await clearStaleMount(un, opts.mountpoint);
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    // No default_permissions: the kernel would then refresh attributes with a GETATTR before every permission check
    // (attribute timeouts are 0), doubling the requests; the server checks modes itself, against the request's uid.
    const options = `fd=3,rootmode=40000,user_id=${uid},group_id=${gid},allow_other,max_read=${MAX_WRITE}`;
    const r = await run('mount', ['-i', '-n', '-t', `fuse.${opts.name}`, '-o', options, opts.name, opts.mountpoint], ['ignore', 'ignore', 'pipe', fd]);
    if (r.code !== 0) {
      const denied = /superuser|only root|permission denied|not permitted/i.test(r.stderr);
      const missing = /does not exist|no such file/i.test(r.stderr);
      throw err(denied ? 'EPERM' : missing ? 'ENOENT' : 'EIO', `mount ${opts.mountpoint}: ${r.stderr || `exit ${r.code}`}`);
    }
    return new FuseMount(fd, opts.mountpoint, un);
  } catch (e) {
    await closeAsync(fd).catch(() => undefined);
    throw e instanceof UmdevError ? e : err('EIO', `mount ${opts.mountpoint}: ${(e as Error).message}`, e);
  }
}
