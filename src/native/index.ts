/**
 * Concepts: the typed face of umdev's one native addon (`native/*.cc`, built by node-gyp on `npm ci` into
 * `build/Release/umdev_native.node`). It holds only the syscalls Node lacks: readiness of an arbitrary fd on the main
 * loop, non-blocking read/write on such fds, AF_UNIX sockets that pass fds (SCM_RIGHTS), eventfd, memfd, shared
 * mmap, and the confinement of a device host (credentials, prctl, seccomp). Everything is synchronous and never
 * blocks: "not ready" is an ordinary return value (-1 or null), and every failure is a `UmdevError` carrying the
 * syscall's errno name (`EBADF`, `ENOENT`, …; a name umdev's table lacks becomes `EIO`, with the real name in the
 * message and on `cause.code`).
 *
 * Ownership: every fd returned here is the caller's and is close-on-exec; close it with `native.close`. A watched
 * fd must have its watcher stopped before the fd is closed.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { err, isErrno, UmdevError } from '../errors.js';

/** Which readiness a watcher waits for (and, in a callback, which it saw). */
export interface FdEvents {
  readable?: boolean;
  writable?: boolean;
  /** The peer hung up (EPOLLRDHUP): lets a caller that stopped reading still see the peer go away. */
  hangup?: boolean;
}

/** A readiness watch on one fd; see `native.watch`. */
export interface FdWatcher {
  /** Changes the interest set; `{}` pauses the watch without releasing it. Throws EINVAL after stop(). */
  update(events: FdEvents): void;
  /** Releases the watch (idempotent). Call it before closing the fd. */
  stop(): void;
}

/** A watcher that can also stop keeping the process alive, like a timer's ref()/unref(). */
export interface RefableFdWatcher extends FdWatcher {
  ref(): void;
  unref(): void;
}

/** The readiness a watch callback saw, as bits of one number (no object per event: sockets fire once a message). */
export const FdReady = { READABLE: 1, WRITABLE: 2, HANGUP: 4 } as const;

/**
 * Called on the main thread when the fd is ready (`ready`: `FdReady` bits), or with an error (e.g. EBADF) that libuv
 * reported for it (`ready` 0).
 */
export type FdWatchCallback = (err: Error | null, ready: number) => void;

/** The result of a successful `recvMsg`: `bytes` 0 with no fds is end of stream. */
export interface RecvResult {
  bytes: number;
  fds: number[];
}

/** Who is at the other end of an AF_UNIX socket, as the kernel recorded it when the peer connected. */
export interface PeerCred {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
  /** Supplementary groups (SO_PEERGROUPS). */
  readonly groups: readonly number[];
}

/** Flags for `native.eventfd`. */
export interface EventfdFlags {
  nonblock?: boolean;
  semaphore?: boolean;
}

/** The native calls. Each is documented where the wrapper or the addon implements it. */
export interface Native {
  /**
   * Watches `fd` for readiness with a libuv poll handle on the main loop (no thread hop). Makes the fd non-blocking.
   * The watcher keeps the process alive until stop() or unref(), and keeps itself alive even if unreferenced.
   * Callback exceptions are reported as uncaught exceptions. Fails with EEXIST if libuv already watches this fd,
   * EPERM for fds epoll cannot watch (regular files).
   */
  watch(fd: number, events: FdEvents, cb: FdWatchCallback): RefableFdWatcher;
  /** Sets or clears O_NONBLOCK (on the open file description, so on every dup of the fd). */
  setNonBlocking(fd: number, on: boolean): void;
  /** Sets FD_CLOEXEC: no program this process starts inherits the fd. */
  setCloseOnExec(fd: number): void;
  /**
   * read(2) into buf at offset; returns bytes read, 0 at EOF, or -1 for EAGAIN (no throw for EAGAIN). With `spinNs`
   * (≤ 1 ms), EAGAIN is retried for that long first: a busy poll for a peer about to send (the loop is blocked meanwhile).
   */
  read(fd: number, buf: Uint8Array, offset: number, length: number, spinNs?: number): number;
  /** write(2); returns bytes written or -1 for EAGAIN. */
  write(fd: number, buf: Uint8Array, offset: number, length: number): number;
  /** close(2); an EINTR from close is success (Linux has released the fd). */
  close(fd: number): void;
  /** flock(fd, LOCK_EX | LOCK_NB): true when taken, false when another open file holds it. */
  tryLock(fd: number): boolean;
  /** A connected pair of AF_UNIX stream sockets, both non-blocking and close-on-exec. */
  socketpair(): [number, number];
  /**
   * A listening AF_UNIX stream socket at `path` (non-blocking). With `mode` (and `gid`, `uid`), the socket is bound
   * and listening in a private directory first and renamed into place, so it never exists at `path` with another
   * mode, group or owner. EADDRINUSE when `path` exists.
   */
  listenUnix(path: string, backlog: number, mode?: number, gid?: number, uid?: number): number;
  /** SO_PEERCRED + SO_PEERGROUPS of a connected AF_UNIX socket. */
  peerCred(fd: number): PeerCred;
  /** accept4; -1 on EAGAIN. The new fd is non-blocking and close-on-exec. */
  accept(listenFd: number): number;
  /** A socket connected to `path`, non-blocking and close-on-exec. EAGAIN if the listener's backlog is full. */
  connectUnix(path: string): number;
  /**
   * recvmsg into buf; returns { bytes, fds } (bytes 0 = EOF) or null on EAGAIN. Received fds are close-on-exec.
   * Control data that did not fit (more than maxFds fds) is EMSGSIZE, after closing the fds that did arrive; the
   * message's bytes are consumed too, so treat it as a protocol error on that connection.
   */
  recvMsg(fd: number, buf: Uint8Array, offset: number, length: number, maxFds: number): RecvResult | null;
  /**
   * recvMsg without allocating: returns the bytes received (0 = EOF) or -1 on EAGAIN; `fds[0]` gets the number of
   * fds received and `fds[1..]` the fds, so at most `fds.length - 1` are accepted (beyond that: EMSGSIZE as recvMsg).
   * `spinNs` busy-polls as in `read`.
   */
  recvMsgInto(fd: number, buf: Uint8Array, offset: number, length: number, fds: Int32Array, spinNs?: number): number;
  /**
   * sendmsg of the buffers (one iovec each) with `fds` attached to the first byte; returns bytes sent or -1 on
   * EAGAIN. After a partial send the fds have gone; send the rest without them. Never raises SIGPIPE (EPIPE instead).
   */
  sendMsg(fd: number, bufs: readonly Uint8Array[], fds?: readonly number[]): number;
  /** send(2) of one window of `buf`, no fds; bytes sent (possibly fewer) or -1 on EAGAIN. Never raises SIGPIPE. */
  send(fd: number, buf: Uint8Array, offset: number, length: number): number;
  /**
   * One datagram to the AF_UNIX SOCK_DGRAM socket at `path` (`@name`: abstract), from a fresh socket closed at once;
   * returns the bytes sent. What sd_notify(3) does with $NOTIFY_SOCKET. Never blocks (EAGAIN when the queue is full).
   */
  sendDatagram(path: string, data: Uint8Array): number;
  /** An eventfd (always close-on-exec). */
  eventfd(initval: number, flags?: EventfdFlags): number;
  /** Reads the counter (resets it, or takes 1 in semaphore mode); null on EAGAIN. */
  eventfdRead(fd: number): bigint | null;
  /** Adds to the counter; EAGAIN if it would overflow on a non-blocking eventfd. */
  eventfdWrite(fd: number, value: bigint): void;
  /**
   * Adds 1 to an eventfd without ever blocking: true when added, false when the counter is full (signal dropped).
   * Sets O_NONBLOCK on the fd's open file description first (shared with whoever passed the fd).
   */
  eventfdSignal(fd: number): boolean;
  /** A memfd of `size` bytes (close-on-exec); with `seals` (F_SEAL_* bits) it is sealable and sealed after sizing. */
  memfdCreate(name: string, size: number, seals?: number): number;
  /** The F_SEAL_* bits of a memfd; 0 for a file that cannot carry seals. */
  getSeals(fd: number): number;
  /**
   * A shared mapping of fd as an external ArrayBuffer. It is unmapped by munmap() or, failing that, when the
   * ArrayBuffer is garbage-collected; never twice. `offset` must be page-aligned.
   */
  mmap(fd: number, offset: number | bigint, length: number, writable: boolean): ArrayBuffer;
  /** Unmaps and detaches a buffer from mmap() (its views then have length 0). Idempotent. */
  munmap(ab: ArrayBuffer): void;
  /** The system page size. */
  pageSize(): number;
  /**
   * Confine this process for good (a device host, before it reads a byte from outside): drop to `uid`/`gid` with
   * no supplementary groups (-1: keep the current ids), then no_new_privs, not dumpable, SIGKILL when the parent
   * (`parentPid`) dies, and the seccomp filter of `native/confine.cc` on every thread. Throws with the failed step's
   * errno; the process is then half-confined and must exit.
   */
  confine(uid: number, gid: number, parentPid: number): void;
  /**
   * Fork this process (the zygote, `native/fork.cc`): every mapping made inheritable, the child's event loop made its
   * own, `stderrFd` its fd 2 (closed under its own number). Returns 0 in the child, the child's pid in the parent.
   * Only for a process started with --single-threaded, and a child leaves only with `exitNow`.
   */
  forkHost(stderrFd: number): number;
  /** _exit(code): leave at once, without Node's exit (a forked child has none of Node's helper threads to join). */
  exitNow(code: number): never;
  /** Reap every child that has ended: flat [pid, code (-1 if signalled), signal (0 if exited), ...]. */
  reapChildren(): number[];
  /** A pidfd for `pid` (close-on-exec, caller closes); ESRCH once it is gone. */
  pidfdOpen(pid: number): number;
  /** Send `signal` through a pidfd; false when the process has already ended. */
  pidfdKill(pidfd: number, signal: number): boolean;
  /** SIGKILL this process when its parent ends; ESRCH if `parentPid` is no longer its parent. */
  dieWithParent(parentPid: number): void;
  /** `from` becomes fd `to` (replacing what `to` was; close-on-exec), and `from` is closed. */
  moveFd(from: number, to: number): void;
}

/** memfd seals (fcntl F_ADD_SEALS / F_GET_SEALS), as in <linux/fcntl.h>. */
export const Seal = { SEAL: 0x1, SHRINK: 0x2, GROW: 0x4, WRITE: 0x8 } as const;

/** The raw addon, as native/addon.cc exports it. */
interface Binding extends Omit<Native, 'watch' | 'recvMsg'> {
  setErrorFactory(factory: (name: string, errno: number, syscall: string, message: string) => Error): void;
  FdWatcher: new (fd: number, events: FdEvents, cb: FdWatchCallback) => RefableFdWatcher;
}

const ADDON = 'umdev_native.node';

function findAddon(): string | undefined {
  // From dist/src/native/ (the built wrapper) or src/native/ up to the package root's build/Release.
  for (const up of ['../../../', '../../']) {
    const p = fileURLToPath(new URL(`${up}build/Release/${ADDON}`, import.meta.url));
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** Turns the addon's (name, errno, syscall, message) into umdev's error type. */
function errnoError(name: string, errno: number, syscall: string, message: string): Error {
  const cause = Object.assign(new Error(message), { code: name, errno, syscall });
  return new UmdevError(isErrno(name) ? name : 'EIO', `${message} (${name})`, { cause });
}

function load(): Binding | UmdevError {
  const path = findAddon();
  const missing = 'native addon not built: run `npm ci` (needs g++, make, python3) to build build/Release/' + ADDON;
  if (!path) return err('ENOSYS', missing);
  try {
    const binding = createRequire(import.meta.url)(path) as Binding;
    binding.setErrorFactory(errnoError);
    return binding;
  } catch (e) {
    return err('ENOSYS', `${missing}; loading ${path} failed: ${(e as Error).message}`, e);
  }
}

/** The addon's plain functions, by name (all of `Native` but `watch`, which wraps a class, and `recvMsg`, built on `recvMsgInto`). */
const CALLS = [
  'setNonBlocking', 'setCloseOnExec', 'read', 'write', 'close', 'tryLock',
  'socketpair', 'listenUnix', 'peerCred', 'accept', 'connectUnix', 'recvMsgInto', 'sendMsg', 'send', 'sendDatagram',
  'eventfd', 'eventfdRead', 'eventfdWrite', 'eventfdSignal', 'memfdCreate', 'getSeals', 'mmap', 'munmap', 'pageSize', 'confine',
  'forkHost', 'exitNow', 'reapChildren', 'pidfdOpen', 'pidfdKill', 'dieWithParent', 'moveFd',
] as const satisfies readonly Exclude<keyof Native, 'watch' | 'recvMsg'>[];

function thrower(reason: UmdevError): () => never {
  return () => {
    throw reason;
  };
}

function unavailable(reason: UmdevError): Native {
  const fail = thrower(reason);
  return Object.fromEntries([...CALLS, 'watch', 'recvMsg'].map((name) => [name, fail])) as unknown as Native;
}

function wrap(b: Binding): Native {
  // A call missing from the binding means build/ is older than this wrapper (a checkout updated without `npm ci`).
  const stale = (name: string) => thrower(err('ENOSYS', `native addon lacks ${name}: rebuild it with \`npm ci\``));
  const calls = Object.fromEntries(CALLS.map((name) => [name, typeof b[name] === 'function' ? b[name] : stale(name)]));
  const { FdWatcher } = b;
  const watch: Native['watch'] =
    typeof FdWatcher === 'function' ? (fd, events, cb) => new FdWatcher(fd, events, cb) : stale('watch');
  const into = calls.recvMsgInto as Native['recvMsgInto'];
  const recvMsg: Native['recvMsg'] = (fd, buf, offset, length, maxFds) => {
    const fds = new Int32Array(Math.max(0, Math.min(maxFds, 253)) + 1);
    const bytes = into(fd, buf, offset, length, fds);
    return bytes < 0 ? null : { bytes, fds: Array.from(fds.subarray(1, 1 + fds[0]!)) };
  };
  return { ...calls, watch, recvMsg } as unknown as Native;
}

const loaded = load();

/**
 * The native calls (see `Native`). If the addon is not built, every call throws ENOSYS saying how to build it; merely
 * importing this module never throws.
 */
export const native: Native = loaded instanceof UmdevError ? unavailable(loaded) : wrap(loaded);
