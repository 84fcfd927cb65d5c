/**
 * Concepts: `FuseServer` ties the pieces together for one mountpoint: mount (mount.ts), read and reply on the device
 * (device-channel.ts), answer with the dispatcher. Lifecycle: `start()` resolves once mounted and serving; `close()`
 * is graceful and idempotent (unmount, wait for the session to end, close the fd; the same promise to every caller);
 * an `exit` hook detaches the mount if the process exits without closing it.
 */
import type { AttrTree } from './attr-tree.js';
import { DeviceChannel, type FuseDeviceIo } from './device-channel.js';
import { FuseDispatcher, type FuseLogger } from './dispatcher.js';
import { type FuseMount, type MountMethod, mountFuse } from './mount.js';
import { ownerFor } from './node-access.js';
import { BusyPoll } from '../native/busy-poll.js';
import { native } from '../native/index.js';

/** What to serve where. */
export interface FuseServerOptions {
  readonly tree: AttrTree;
  readonly mountpoint: string;
  /** Filesystem type suffix and mount source (`fuse.<name>`); default `umdev`. */
  readonly name?: string;
  /** Default: errors to stderr, debug dropped. */
  readonly log?: FuseLogger;
  /** Default: the project's native addon. */
  readonly io?: FuseDeviceIo;
  /** Default: `/dev/fuse`; only `mount` can use another device. */
  readonly device?: string;
  /**
   * Default `auto`: `mount` as root, else the setuid `fusermount3` (Debian fuse3). Without `user_allow_other` in
   * /etc/fuse.conf a non-root mount is reachable by its own user only.
   */
  readonly mountMethod?: MountMethod;
  /** Poll for the kernel's next request for up to this many ns after answering one (default 0: never). */
  readonly busyPollNs?: number;
}

/** How long `close()` waits for the kernel to end the session after the unmount before closing the fd anyway. */
const END_GRACE_MS = 2000;

/** Waits for `p`, but no longer than END_GRACE_MS. */
async function withGrace(p: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((resolve) => (timer = setTimeout(resolve, END_GRACE_MS)))]);
  clearTimeout(timer);
}

function defaultLog(level: 'debug' | 'error', message: string): void {
  // Lines come without a component prefix (a caller's logger adds its own); standalone, say where they come from.
  if (level === 'error') console.error(`fuse: ${message}`);
}

/** A mounted attribute tree. Owns its mount, device fd and watchdog until `close()` resolves. */
export class FuseServer {
  readonly mountpoint: string;
  readonly #mount: FuseMount;
  readonly #channel: DeviceChannel;
  readonly #dispatcher: FuseDispatcher;
  readonly #ended: Promise<void>;
  readonly #exitHook = (): void => this.#mount.detachSync();
  #closing: Promise<void> | undefined;

  private constructor(mount: FuseMount, tree: AttrTree, io: FuseDeviceIo, log: FuseLogger, busyPollNs: number) {
    this.mountpoint = mount.mountpoint;
    this.#mount = mount;
    let ended!: () => void;
    this.#ended = new Promise((resolve) => (ended = resolve));
    this.#channel = new DeviceChannel(mount.fd, io, log, ended, busyPollNs > 0 ? new BusyPoll(busyPollNs) : undefined);
    this.#dispatcher = new FuseDispatcher(tree, this.#channel, log, ownerFor(process.getuid?.() ?? 0, process.getgid?.() ?? 0));
    process.on('exit', this.#exitHook);
  }

  /**
   * Mounts `tree` at `mountpoint` and starts serving. Fails with ENODEV (no /dev/fuse), EPERM (mounting refused),
   * ENOENT (no mountpoint), ENOSYS (fusermount3 needed but missing) or EIO.
   */
  static async start(opts: FuseServerOptions): Promise<FuseServer> {
    const mount = await mountFuse({
      name: opts.name ?? 'umdev',
      mountpoint: opts.mountpoint,
      ...(opts.device ? { device: opts.device } : {}),
      ...(opts.mountMethod ? { method: opts.mountMethod } : {}),
    });
    const server = new FuseServer(mount, opts.tree, opts.io ?? native, opts.log ?? defaultLog, opts.busyPollNs ?? 0);
    try {
      server.#channel.onRequest((req) => server.#dispatcher.handle(req));
    } catch (e) {
      await server.close();
      throw e;
    }
    return server;
  }

  /** Resolves when the kernel ends the session (unmounted by anyone, or `close()`). */
  get ended(): Promise<void> {
    return this.#ended;
  }

  /**
   * Resolves once the kernel has been told of every removal made so far (its dentries dropped). Whoever removes
   * nodes outside FUSE awaits this before answering, so a removed path is gone for every reader when they answer.
   */
  settled(): Promise<void> {
    return this.#channel.drained();
  }

  /** Node ids the kernel holds and open handles (for tests of the reference bookkeeping). */
  get stats(): { inodes: number; handles: number } {
    return { inodes: this.#dispatcher.inodeCount, handles: this.#dispatcher.handleCount };
  }

  /** Unmounts, ends the session and closes the device. Idempotent; every caller gets the same promise. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#dispatcher.close();
    try {
      await this.#mount.unmount();
      await withGrace(this.#ended);
    } finally {
      this.#channel.stop();
      process.off('exit', this.#exitHook);
      // A notification still in the pool would otherwise write to whatever reuses the fd number.
      await withGrace(this.#channel.drained());
      await this.#mount.closeFd();
    }
  }
}
