/**
 * Concepts: mounting without CAP_SYS_ADMIN through the setuid `fusermount3` (Debian `fuse3`). It opens `/dev/fuse`,
 * mounts it at the mountpoint and hands the fd back over an AF_UNIX socket (SCM_RIGHTS) named by `_FUSE_COMMFD`,
 * then exits (no `auto_unmount`: this process's own watchdog detaches the mount). fusermount3 adds `fd=`,
 * `rootmode=`, `user_id=` and `group_id=` itself (the caller's real ids) and drops any the caller passes; a
 * non-root caller may pass `allow_other` only if `/etc/fuse.conf` says `user_allow_other`. The fd is received on the
 * main loop through the native addon's readiness watch, never by a blocking call.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { err, UmdevError } from '../errors.js';
import { native } from '../native/index.js';
import { MAX_WRITE } from './protocol.js';

/** The helper binary; found on PATH like `mount` and `umount`. */
export const FUSERMOUNT = 'fusermount3';

/** The error for a system without fusermount3. */
export function fusermountMissing(cause?: unknown): UmdevError {
  return err('ENOSYS', `${FUSERMOUNT} not found: mounting FUSE as a non-root user needs it (install Debian package fuse3)`, cause);
}

/** Whether `/etc/fuse.conf` lets non-root users mount with `allow_other` (a line of its own, as fusermount3 reads it). */
async function userAllowOther(): Promise<boolean> {
  try {
    return (await readFile('/etc/fuse.conf', 'utf8')).split('\n').some((line) => line === 'user_allow_other');
  } catch {
    return false; // No file: fusermount3 refuses allow_other to non-root users too.
  }
}

/** fsname/subtype values may hold any character but ',' and '\' unescaped (fusermount3 resolves backslash escapes). */
function escapeName(name: string): string {
  return name.replace(/[\\,]/g, (c) => `\\${c}`);
}

/**
 * The `-o` options for fusermount3: the mount shows as type `fuse.<name>` with source `<name>`, as with `mount`.
 * allow_other for root, or for others where fuse.conf permits it; without it only the mounting user can enter.
 */
export async function fusermountOptions(name: string, uid: number): Promise<string> {
  const allowOther = uid === 0 || (await userAllowOther());
  return `fsname=${escapeName(name)},subtype=${escapeName(name)},max_read=${MAX_WRITE}${allowOther ? ',allow_other' : ''}`;
}

/** Maps fusermount3's message to an errno; its exit code is always 1. */
function classify(stderr: string): 'EPERM' | 'ENOENT' | 'ENODEV' | 'EIO' {
  if (/fuse device not found|\/dev\/fuse.*(no such|not found)/i.test(stderr)) return 'ENODEV';
  if (/no such file|does not exist/i.test(stderr)) return 'ENOENT';
  if (/permission denied|not permitted|only allowed|not owner|forbidden|privileged|too many FUSE/i.test(stderr)) return 'EPERM';
  return 'EIO';
}

/**
 * Mounts through fusermount3 and resolves with the `/dev/fuse` fd it passes back (the caller's, close-on-exec).
 * Fails with ENOSYS when fusermount3 is missing, and with EPERM, ENOENT, ENODEV or EIO carrying its message.
 */
export async function fusermountMount(mountpoint: string, options: string): Promise<number> {
  const [mine, theirs] = native.socketpair();
  let child;
  try {
    // The child's end becomes its fd 3 (spawn clears close-on-exec there); fusermount3 sends the fd on it.
    child = spawn(FUSERMOUNT, ['-o', options, '--', mountpoint], {
      stdio: ['ignore', 'ignore', 'pipe', theirs],
      env: { ...process.env, _FUSE_COMMFD: '3' },
    });
  } catch (e) {
    native.close(mine);
    throw fusermountMissing(e);
  } finally {
    // Only the child may hold it: once fusermount3 exits, our end must read end-of-stream.
    native.close(theirs);
  }
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<number | UmdevError>((resolve) => {
    child.on('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ENOENT' ? fusermountMissing(e) : err('EIO', `cannot run ${FUSERMOUNT}: ${e.message}`, e)));
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
  let fd: number | undefined;
  try {
    fd = await receiveFd(mine);
  } catch (e) {
    // Reading failed outright (not end-of-stream): fusermount3's own outcome is the better report if it has one.
    const outcome = await exited;
    throw outcome instanceof UmdevError ? outcome : e;
  } finally {
    native.close(mine);
  }
  const outcome = await exited;
  if (fd !== undefined) {
    if (outcome === 0) return fd;
    native.close(fd);
  }
  if (outcome instanceof UmdevError) throw outcome;
  const message = stderr.trim() || `${FUSERMOUNT} exited with ${outcome} without passing the device`;
  throw err(classify(message), `${FUSERMOUNT} ${mountpoint}: ${message}`);
}

/** Waits (on the loop) for one message on `sock`; resolves with its fd, or undefined at end-of-stream. */
function receiveFd(sock: number): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const buf = Buffer.alloc(16);
    const watcher = native.watch(sock, { readable: true }, (e) => {
      let r;
      try {
        if (e) throw e;
        r = native.recvMsg(sock, buf, 0, buf.length, 1);
      } catch (x) {
        watcher.stop();
        return reject(x instanceof UmdevError ? x : err('EIO', `receiving the fuse device: ${(x as Error).message}`, x));
      }
      if (r === null) return; // Spurious wakeup.
      if (r.fds.length === 0 && r.bytes > 0) return; // Bytes without an fd: keep reading until the fd or the end.
      watcher.stop();
      resolve(r.fds[0]);
    });
  });
}
