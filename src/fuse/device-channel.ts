/**
 * Concepts: the `FuseChannel` over a mounted `/dev/fuse` fd. Requests are read on the main thread when a readiness
 * watch fires (no thread-pool read parked for the life of the mount, no thread hop per request): each readable event
 * drains the device with non-blocking reads until EAGAIN. With busy polling, that last read waits a short adaptive
 * window for the next request (`BusyPoll`) when every request read so far has been answered: a process walking the
 * tree sends its next request a few microseconds after our reply. Replies are written synchronously (the device
 * takes whole messages and never blocks a reply); notifications go through the libuv pool, because the kernel may
 * hold them on an inode lock that only a later reply from this thread releases. `drained()` lets a remover wait,
 * without blocking this thread, until its invalidations have reached the kernel.
 */
import { write } from 'node:fs';
import type { FuseChannel } from './channel.js';
import type { FuseLogger } from './dispatcher.js';
import { Op, READ_BUFFER_SIZE } from './protocol.js';
import type { BusyPoll } from '../native/busy-poll.js';

/** The fd calls the channel needs (the project's native addon provides them; tests may substitute). */
export interface FuseDeviceIo {
  /** Calls `cb` on the main thread whenever `fd` is readable; makes the fd non-blocking. */
  watch(fd: number, events: { readable?: boolean }, cb: (err: Error | null) => void): { stop(): void };
  /** read(2): bytes read, 0 at end, -1 for EAGAIN (after retrying it for `spinNs`); throws an errno-named error otherwise. */
  read(fd: number, buf: Uint8Array, offset: number, length: number, spinNs?: number): number;
  /** write(2): bytes written or -1 for EAGAIN; throws an error with an errno name otherwise. */
  write(fd: number, buf: Uint8Array, offset: number, length: number): number;
}

function errnoOf(e: unknown): string | undefined {
  const x = e as { errno?: unknown; code?: unknown; cause?: { code?: unknown } } | null;
  if (typeof x?.errno === 'string') return x.errno;
  if (typeof x?.cause?.code === 'string') return x.cause.code;
  return typeof x?.code === 'string' ? x.code : undefined;
}

/** Serves one device fd; does not own it (the mount closes it after `stop()`). */
export class DeviceChannel implements FuseChannel {
  readonly #fd: number;
  readonly #io: FuseDeviceIo;
  readonly #log: FuseLogger;
  readonly #onEnd: () => void;
  readonly #buf = Buffer.alloc(READ_BUFFER_SIZE);
  #watcher: { stop(): void } | undefined;
  #stopped = false;
  /** Notification writes still in the pool. */
  readonly #pending = new Set<Promise<void>>();
  readonly #busyPoll: BusyPoll | undefined;
  /** Requests read that expect a reply, less replies written (a request dropped without one only stops the polling). */
  #unanswered = 0;

  /**
   * `onEnd` runs once when the session ends (unmounted: the device reads ENODEV) or fails. With `busyPoll`, the
   * channel polls for the next request within its window after answering.
   */
  constructor(fd: number, io: FuseDeviceIo, log: FuseLogger, onEnd: () => void, busyPoll?: BusyPoll) {
    this.#fd = fd;
    this.#io = io;
    this.#log = log;
    this.#onEnd = onEnd;
    this.#busyPoll = busyPoll;
  }

  onRequest(handler: (req: Buffer) => void): void {
    if (this.#watcher !== undefined || this.#stopped) return;
    this.#watcher = this.#io.watch(this.#fd, { readable: true }, () => this.#drain(handler));
  }

  reply(msg: Buffer): void {
    if (this.#stopped) return; // The fd may already be closed and its number reused.
    if (this.#unanswered > 0) this.#unanswered--;
    try {
      this.#io.write(this.#fd, msg, 0, msg.length);
    } catch (e) {
      // ENOENT: the request was interrupted or aborted; ENODEV: unmounted meanwhile. Neither is this server's fault.
      const code = errnoOf(e);
      if (code !== 'ENOENT' && code !== 'ENODEV') this.#log('error', `reply failed: ${(e as Error).message}`);
    }
  }

  notify(msg: Buffer): void {
    if (this.#stopped) return;
    const done = new Promise<void>((resolve) => {
      write(this.#fd, msg, 0, msg.length, null, (e) => {
        if (e && !benignNotifyError(e.code)) this.#log('debug', `notification failed: ${e.message}`);
        this.#pending.delete(done);
        resolve();
      });
    });
    this.#pending.add(done);
  }

  /**
   * Resolves when the notification writes in flight now have ended (later ones are not waited for, so a stream of
   * removals cannot starve a waiter). The fd must stay open until then: its number could be reused.
   */
  drained(): Promise<void> {
    return this.#pending.size === 0 ? Promise.resolve() : Promise.all(this.#pending).then(() => undefined);
  }

  /** Stops reading and drops later replies. Idempotent; call before the fd is closed. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#watcher?.stop();
    this.#watcher = undefined;
  }

  #drain(handler: (req: Buffer) => void): void {
    const buf = this.#buf;
    const poll = this.#busyPoll;
    poll?.woke();
    let spin = 0;
    while (!this.#stopped) {
      let n: number;
      const spunFrom = spin > 0 ? performance.now() : 0;
      try {
        n = this.#io.read(this.#fd, buf, 0, buf.length, spin);
      } catch (e) {
        if (errnoOf(e) !== 'ENODEV') this.#log('error', `reading the device failed: ${(e as Error).message}`);
        return this.#end();
      }
      if (spin > 0) poll?.spun((performance.now() - spunFrom) * 1e6);
      if (n < 0) {
        poll?.idle();
        return; // EAGAIN: drained.
      }
      if (n === 0) return this.#end();
      if (n >= 8 && !NO_REPLY.has(buf.readUInt32LE(4))) this.#unanswered++;
      handler(buf.subarray(0, n));
      spin = poll !== undefined && this.#unanswered === 0 ? poll.spinNs() : 0;
    }
  }

  #end(): void {
    this.stop();
    this.#onEnd();
  }
}

/** Requests the kernel expects no reply to (fuse_in_header.opcode). */
const NO_REPLY: ReadonlySet<number> = new Set([Op.FORGET, Op.BATCH_FORGET, Op.INTERRUPT]);

/**
 * Errors of a notification write that mean the kernel already is where the notification wanted it: ENOENT, it has
 * no such entry; ENOTEMPTY, a NOTIFY_DELETE for a directory whose dentry still has children cached (the kernel's
 * `fuse_reverse_inval_entry` has invalidated the entry before it checks, and only skips `d_delete`); ENODEV,
 * unmounted meanwhile. None is worth a log line.
 */
export function benignNotifyError(code: string | undefined): boolean {
  return code === 'ENOENT' || code === 'ENOTEMPTY' || code === 'ENODEV';
}
