/**
 * Concepts: the root side of device hosts. For every accepted vfio-user client the bus driver asks a
 * `SessionRunner`; this one starts a device host (`host-main.ts`) with the client's socket as its fd 3, and holds
 * the core handle for it while it serves. It watches the host: a ping every quarter of `stuckMs`, and a host that
 * does not answer within `stuckMs` (a stuck loop) is killed. Whatever ends a host — its client leaving, a thrown
 * exception, the V8 heap limit (`memoryMiB`), SIGKILL — ends that session only and is logged with the cause.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { UmdevError, err, isErrno } from '../../errors.js';
import { MAX_SCREEN_PNG } from '../../display/screen.js';
import type { DeviceHandle, MdevDevice, Uuid } from '../../core/types.js';
import type { Native } from '../../native/index.js';
import type { ActiveSession, SessionRunner } from '../../vfio-user/bus-driver.js';
import type { Logger } from '../../log.js';
import { type MigrationPort, saveDevice } from '../../vfio/migration-port.js';
import type { PciDevice } from '../../vfio/pci-device.js';
import { type HostInit, type HostMessage, type MigrationOp, type MigrationReply, type RootMessage, messageType } from './protocol.js';

const HOST_MAIN = fileURLToPath(new URL('./host-main.js', import.meta.url));
/** How long a host may take to reset and close after being told to stop, before it is killed. */
const STOP_GRACE_MS = 2000;
/** How long a host may take to start (load Node and the driver) before it is given up. */
const STARTUP_MS = 30_000;

export interface HostRunnerOptions {
  /** Module URL exporting the `DRIVERS` catalog the host builds devices from. */
  readonly catalog: string;
  /** The driver name and options a parent was registered with. */
  readonly source: (parent: string) => { readonly driver: string; readonly options: Readonly<Record<string, unknown>> } | undefined;
  readonly open: (uuid: Uuid) => DeviceHandle;
  /** Drop to this user in the host (undefined: stay as the daemon's user). */
  readonly user: { readonly uid: number; readonly gid: number } | undefined;
  readonly memoryMiB: number;
  readonly stuckMs: number;
  readonly maxDmaMaps?: number;
  /** The host busy-polls its client's socket for up to this many ns after each reply (default 0: never). */
  readonly busyPollNs?: number;
  readonly io: Pick<Native, 'close'>;
  readonly log: Logger;
  readonly logSettings: HostInit['log'];
}

export function hostRunner(o: HostRunnerOptions): SessionRunner {
  return (fd, device, model, after, carry) => new HostSession(o, fd, device, after, carry ? model : undefined);
}

class HostSession implements ActiveSession {
  readonly done: Promise<void>;
  readonly #o: HostRunnerOptions;
  readonly #log: Logger;
  #child: ChildProcess | undefined;
  #clientGone = false;
  #stopReason: string | undefined;
  #resets: (() => void)[] = [];
  /** Set once the host says it serves: only then does it listen for requests such as `screen`. */
  #serving = false;
  readonly #screens = new Map<number, { resolve: (png: Buffer) => void; reject: (e: UmdevError) => void; timer: NodeJS.Timeout }>();
  #screenSeq = 0;
  /** Migration operations sent to the host and not answered yet, by sequence number. */
  readonly #mig = new Map<number, { resolve: (r: MigrationReply) => void; reject: (e: UmdevError) => void }>();
  #migSeq = 0;
  /** The daemon's instance, when it holds migrated state the host's instance must start from. */
  readonly #carried: PciDevice | undefined;

  constructor(o: HostRunnerOptions, fd: number, device: MdevDevice, after: Promise<void>, carried: PciDevice | undefined) {
    this.#o = o;
    this.#log = o.log.child('device-host', device.uuid);
    this.#carried = carried;
    this.done = this.#run(fd, device, after);
  }

  /** The migration of the host's instance, the one the client uses. */
  async openMigration(owner: string): Promise<MigrationPort> {
    const { flags } = await this.#migrate({ op: 'open', owner });
    let released = false;
    const call = async (op: MigrationOp): Promise<MigrationReply> => {
      if (released) throw err('EINVAL', 'the migration port was released');
      return this.#migrate(op);
    };
    return {
      flags: flags ?? 0,
      setState: async (target) => void (await call({ op: 'state', target })),
      read: async (max) => Buffer.from((await call({ op: 'read', max })).data ?? '', 'base64'),
      write: async (chunk) => void (await call({ op: 'write', data: Buffer.from(chunk).toString('base64') })),
      platform: async () => {
        const p = (await call({ op: 'platform' })).platform;
        if (p === undefined) throw err('EIO', 'the device host sent no platform state');
        return p;
      },
      stopAndCopy: async () => {
        const r = await call({ op: 'stop-copy' });
        if (r.platform === undefined) throw err('EIO', 'the device host sent no platform state');
        return { stream: Buffer.from(r.data ?? '', 'base64'), platform: r.platform };
      },
      loadPlatform: async (platform) => void (await call({ op: 'load-platform', platform })),
      reset: async () => void (await call({ op: 'reset' })),
      release: () => {
        if (released) return;
        released = true;
        this.#migrate({ op: 'release' }).catch(() => undefined);
      },
    };
  }

  #migrate(op: MigrationOp): Promise<MigrationReply> {
    const child = this.#child;
    if (child === undefined || !child.connected || this.#clientGone) return Promise.reject(err('ECONNRESET', 'the device host is gone'));
    const seq = ++this.#migSeq;
    return new Promise((resolve, reject) => {
      this.#mig.set(seq, { resolve, reject });
      this.#send({ type: 'mig', seq, ...op });
    });
  }

  #migReply(r: MigrationReply): void {
    const p = this.#mig.get(r.seq);
    if (p === undefined) return;
    this.#mig.delete(r.seq);
    if (r.error === undefined) p.resolve(r);
    else p.reject(new UmdevError(isErrno(r.error.errno) ? r.error.errno : 'EIO', r.error.message));
  }

  get closed(): boolean {
    return this.#clientGone;
  }

  get server(): string | undefined {
    const pid = this.#child?.pid;
    return pid === undefined ? undefined : `device host pid ${pid}`;
  }

  poll(): void {
    // The client's socket lives in the host; it reports the hang-up itself.
  }

  close(reason: UmdevError): void {
    this.#stopReason ??= reason.message;
    const child = this.#child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    this.#send({ type: 'stop', reason: reason.message });
    setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS).unref();
  }

  reset(): Promise<void> {
    if (this.#child === undefined || this.#clientGone) return Promise.resolve();
    return new Promise((resolve) => {
      this.#resets.push(resolve);
      this.#send({ type: 'reset' });
    });
  }

  /**
   * The screen of the instance the host serves, as PNG. The host renders it (the video memory is there); the answer
   * is bounded (`MAX_SCREEN_PNG`) and must come within `stuckMs`, else ETIMEDOUT.
   */
  screen(): Promise<Buffer> {
    if (!this.#serving || this.#clientGone || !this.#child?.connected) return Promise.reject(err('EBUSY', 'the device host is not serving a client'));
    const seq = ++this.#screenSeq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#screens.delete(seq);
        reject(err('ETIMEDOUT', `the device host did not answer a screen request within ${this.#o.stuckMs} ms`));
      }, this.#o.stuckMs);
      timer.unref();
      this.#screens.set(seq, { resolve, reject, timer });
      this.#send({ type: 'screen', seq });
    });
  }

  #screenAnswer(m: Extract<HostMessage, { type: 'screen' }>): void {
    const pending = this.#screens.get(m.seq);
    if (pending === undefined) return;
    this.#screens.delete(m.seq);
    clearTimeout(pending.timer);
    if (typeof m.png === 'string' && m.png.length <= Math.ceil(MAX_SCREEN_PNG / 3) * 4) pending.resolve(Buffer.from(m.png, 'base64'));
    else if (typeof m.png === 'string') pending.reject(err('E2BIG', `the device host's screenshot is over ${MAX_SCREEN_PNG} bytes`));
    else pending.reject(err(typeof m.errno === 'string' && isErrno(m.errno) ? m.errno : 'EIO', m.message ?? 'the device host could not take a screenshot'));
  }

  #send(m: RootMessage): void {
    if (this.#child?.connected) this.#child.send(m);
  }

  async #run(fd: number, device: MdevDevice, after: Promise<void>): Promise<void> {
    await after;
    const source = this.#o.source(device.parent.name);
    if (this.#stopReason !== undefined || source === undefined) {
      if (source === undefined) this.#log.error(`no driver source for parent ${device.parent.name}`);
      this.#o.io.close(fd);
      this.#clientGone = true;
      return;
    }
    let handle: DeviceHandle;
    try {
      handle = this.#o.open(device.uuid);
    } catch (e) {
      // The device is going away (or gone): the client is turned away like one that came too late.
      this.#log.warn(`cannot start a session: ${(e as Error).message}`);
      this.#o.io.close(fd);
      this.#clientGone = true;
      return;
    }
    const offRevoke = handle.onRevoke((reason) => this.close(err('ENODEV', `device revoked: ${reason}`)));
    const offRequest = handle.onRequest((count) => this.#send({ type: 'request-release', count }));
    const unrevoke = (): void => {
      offRevoke();
      offRequest();
    };
    try {
      await this.#serve(fd, device, source);
    } finally {
      this.#clientGone = true;
      unrevoke();
      handle.release();
      for (const r of this.#resets.splice(0)) r();
    }
  }

  async #serve(fd: number, device: MdevDevice, source: { driver: string; options: Readonly<Record<string, unknown>> }): Promise<void> {
    // Taken before the host starts, while the daemon's instance is at rest (no client uses it in this mode).
    let restore: HostInit['restore'];
    try {
      restore = this.#carried === undefined ? undefined : await saveDevice(this.#carried, 'umdevd');
      // The host's instance holds the state from here; video memory a load made here would only sit idle.
      this.#carried?.releaseIdleMemory();
    } catch (e) {
      this.#o.io.close(fd);
      throw e;
    }
    const child = spawn(process.execPath, [`--max-old-space-size=${this.#o.memoryMiB}`, HOST_MAIN], {
      stdio: ['ignore', 'inherit', 'inherit', fd, 'ipc'],
    });
    this.#child = child;
    // The host has its own copy of the client socket now.
    this.#o.io.close(fd);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    let stuck: string | undefined;
    // Starting a host (Node and the driver's modules) is not a stuck loop: it has its own, longer, budget, and the
    // ping watchdog starts once the host says it serves.
    const startup = setTimeout(() => {
      stuck = `did not start within ${STARTUP_MS} ms`;
      child.kill('SIGKILL');
    }, STARTUP_MS);
    startup.unref();
    let lastPong = 0;
    let seq = 0;
    let watchdog: NodeJS.Timeout | undefined;
    const watch = (): void => {
      lastPong = Date.now();
      watchdog = setInterval(() => {
        if (Date.now() - lastPong > this.#o.stuckMs) {
          stuck = `stopped answering for ${this.#o.stuckMs} ms`;
          child.kill('SIGKILL');
          return;
        }
        this.#send({ type: 'ping', seq: ++seq });
      }, Math.max(10, this.#o.stuckMs / 4));
      watchdog.unref();
    };
    child.on('message', (m: HostMessage) => {
      lastPong = Date.now();
      const type = messageType(m);
      if (type === 'serving') {
        this.#serving = true;
        clearTimeout(startup);
        watch();
      } else if (type === 'client-gone') this.#clientGone = true;
      else if (m.type === 'screen') this.#screenAnswer(m);
      else if (type === 'mig-reply') this.#migReply(m as MigrationReply);
      else if (type === 'reset-done') {
        if (m.type === 'reset-done' && m.error !== undefined) this.#log.warn(`reset in the device host failed: ${m.error}`);
        this.#resets.shift()?.();
      }
    });
    child.on('error', (e) => {
      // A message sent as the host exits finds its channel closed; the exit itself is reported below.
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EPIPE' || code === 'ECONNRESET' || code === 'ERR_IPC_CHANNEL_CLOSED') this.#log.debug(`device host channel closed: ${e.message}`);
      else this.#log.error(`device host failed: ${e.message}`);
    });
    const init: HostInit = {
      type: 'init',
      uuid: device.uuid,
      catalog: this.#o.catalog,
      driver: source.driver,
      options: source.options,
      parent: device.parent.name,
      typeId: device.type.id,
      uid: this.#o.user?.uid,
      gid: this.#o.user?.gid,
      log: this.#o.logSettings,
      maxDmaMaps: this.#o.maxDmaMaps,
      busyPollNs: this.#o.busyPollNs ?? 0,
      ...(restore === undefined ? {} : { restore }),
    };
    this.#send(init);
    const { code, signal } = await exited;
    this.#serving = false;
    for (const [seq, p] of this.#screens) {
      this.#screens.delete(seq);
      clearTimeout(p.timer);
      p.reject(err('ENODEV', 'the device host ended before it answered'));
    }
    const gone = err('ECONNRESET', 'the device host ended');
    for (const p of this.#mig.values()) p.reject(gone);
    this.#mig.clear();
    clearTimeout(startup);
    clearInterval(watchdog);
    if (stuck !== undefined) this.#log.error(`device host pid ${child.pid} ${stuck} and was killed; the client's session is over`);
    else if (code !== 0) {
      const why = signal !== null ? `signal ${signal}` : `exit status ${code}`;
      this.#log.error(`device host pid ${child.pid} ended with ${why}${this.#stopReason ? ` after: ${this.#stopReason}` : ''}; the client's session is over`);
    }
  }
}
