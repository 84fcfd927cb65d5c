/**
 * Concepts: a device's instance as umdevd holds it when the device lives in a host of its own: a `DeviceInstance`
 * whose every use is a call to that host. The host is started on the device's first need (a client, an attribute,
 * online, a reset, a screen, a migration) and lives until the device is removed, across any number of sessions; a
 * host that dies (or is killed for misbehaving) takes the device's state with it, and the next need starts a fresh
 * one. Until the first need the device costs this small object and nothing else.
 */
import { UmdevError, err, toUmdevError } from '../../errors.js';
import type { MdevDevice } from '../../core/index.js';
import { MAX_SCREEN_PNG } from '../../display/screen.js';
import type { MigrationPort } from '../../vfio/migration-port.js';
import { type ActiveSession, DeviceInstance, type FileSource, type ServeContext } from '../../vfio-user/instance.js';
import { native } from '../../native/index.js';
import { safeClose } from '../../vfio-user/transport.js';
import type { HostProcess } from './host-process.js';
import { Call, checkPlatform } from './protocol.js';
import { UART_TAP_BYTES, type UartOutput } from '../../vfio/uart-tap.js';
import type { FrameOptions, ScreenFrame } from '../live/types.js';

/** Starts a device's host; given by the daemon's `DeviceHosts`. */
export type HostStarter = (device: MdevDevice) => Promise<HostProcess>;

/** Largest piece of migration data in one call, either way. */
const MIG_CHUNK = 1 << 20;

/** The device's instance in its host. Owned by the device's record (its vendor state). */
export class HostInstance extends DeviceInstance {
  readonly #device: MdevDevice;
  readonly #start: HostStarter;
  #host: Promise<HostProcess> | undefined;
  /** The host once it has started, while it runs (for status: pid, uid, counters). */
  #running: HostProcess | undefined;
  #disposed = false;
  #screen: Promise<Buffer> | undefined;
  /** The model's files: every fresh host is given each of them before anything else reaches it. */
  readonly #files = new Map<string, FileSource>();

  constructor(device: MdevDevice, start: HostStarter) {
    super();
    this.#device = device;
    this.#start = start;
  }

  /** The device's host while it runs (pid, uid, last counters); undefined before its first need and after it died. */
  get running(): HostProcess | undefined {
    return this.#running?.alive === true ? this.#running : undefined;
  }

  /** The screen as a tagged frame from the host: nothing is encoded there while its tag matches `ifNoneMatch`. */
  async frame(opts: FrameOptions): Promise<ScreenFrame> {
    const r = await this.#call(Call.FRAME, opts.ifNoneMatch === undefined ? {} : { ifNoneMatch: opts.ifNoneMatch }, { maxData: MAX_SCREEN_PNG });
    const etag = r.json.etag as string;
    return r.json.unchanged === true ? { unchanged: true, etag } : { png: r.data, etag };
  }

  /** What the device's UART sent after `since`, from the host's bounded ring. */
  async uart(since = 0): Promise<UartOutput> {
    const r = await this.#call(Call.UART, { since }, { maxData: UART_TAP_BYTES });
    return { start: r.json.start as number, end: r.json.end as number, lost: r.json.lost as number, data: r.data };
  }

  /** The device's host, started if none runs (or the last one died). */
  #need(): Promise<HostProcess> {
    if (this.#disposed) return Promise.reject(err('ENODEV', `${this.#device.uuid} is being removed`));
    const running = this.#host;
    if (running !== undefined) {
      return running.then((h) => {
        if (h.alive) return h;
        if (this.#host === running) this.#host = undefined;
        return this.#need();
      });
    }
    const started = this.#start(this.#device).then(async (h) => {
      try {
        for (const [name, source] of this.#files) await sendFile(h, name, source);
      } catch (e) {
        h.kill(`could not be given its files: ${toUmdevError(e).message}`);
        throw e;
      }
      return h;
    });
    this.#host = started;
    started.then(
      (h) => {
        this.#running = h;
        return h.exited.then(() => {
          if (this.#host === started) this.#host = undefined;
          if (this.#running === h) this.#running = undefined;
        });
      },
      () => {
        if (this.#host === started) this.#host = undefined;
      },
    );
    return started;
  }

  async #call(kind: Parameters<HostProcess['call']>[0], json?: unknown, o?: Parameters<HostProcess['call']>[2]): Promise<ReturnType<HostProcess['call']> extends Promise<infer R> ? R : never> {
    return (await this.#need()).call(kind, json, o);
  }

  serve(fd: number, c: ServeContext): ActiveSession {
    return new HostSession(this.#need(), fd, c);
  }

  async showAttribute(group: string | undefined, name: string): Promise<string> {
    return (await this.#call(Call.ATTR_SHOW, { group, name })).json.value as string;
  }

  async storeAttribute(group: string | undefined, name: string, value: string): Promise<void> {
    await this.#call(Call.ATTR_STORE, { group, name, value });
  }

  async start(): Promise<void> {
    await this.#call(Call.START);
  }

  async stop(): Promise<void> {
    await this.#call(Call.STOP);
  }

  async reset(): Promise<void> {
    await this.#call(Call.RESET);
  }

  requestRelease(count: number): void {
    // Only a running host has a client to ask.
    void this.#host?.then((h) => (h.alive ? h.call(Call.REQUEST_RELEASE, { count }) : undefined)).catch(() => undefined);
  }

  /** One frame at a time: requests that come while one is being made share it. */
  screen(): Promise<Buffer> {
    this.#screen ??= this.#call(Call.SCREEN, {}, { maxData: MAX_SCREEN_PNG })
      .then((r) => r.data)
      .finally(() => {
        this.#screen = undefined;
      });
    return this.#screen;
  }

  async openMigration(owner: string): Promise<MigrationPort> {
    const host = await this.#need();
    const flags = (await host.call(Call.MIG_OPEN, { owner })).json.flags as number;
    let released = false;
    const call: HostProcess['call'] = (kind, json, o) => (released ? Promise.reject(err('EINVAL', 'the migration port was released')) : host.call(kind, json, o));
    const read = async (max: number): Promise<Uint8Array> => {
      const n = Math.max(0, Math.min(max, MIG_CHUNK));
      return (await call(Call.MIG_READ, { max: n }, { maxData: n })).data;
    };
    return {
      flags,
      setState: async (target) => void (await call(Call.MIG_STATE, { target })),
      read,
      write: async (chunk) => {
        for (let at = 0; at < chunk.length; at += MIG_CHUNK) await call(Call.MIG_WRITE, {}, { data: chunk.subarray(at, at + MIG_CHUNK) });
      },
      platform: async () => checkPlatform((await call(Call.MIG_PLATFORM)).json.platform, 'platform'),
      stopAndCopy: async () => {
        const platform = checkPlatform((await call(Call.MIG_STOP_COPY)).json.platform, 'platform');
        const parts: Uint8Array[] = [];
        for (let chunk = await read(MIG_CHUNK); chunk.length > 0; chunk = await read(MIG_CHUNK)) parts.push(chunk);
        return { stream: Buffer.concat(parts), platform };
      },
      loadPlatform: async (platform) => void (await call(Call.MIG_LOAD_PLATFORM, { platform })),
      reset: async () => void (await call(Call.MIG_RESET)),
      release: () => {
        if (released) return;
        released = true;
        host.call(Call.MIG_RELEASE).catch(() => undefined);
      },
    };
  }

  async attachFile(name: string, source: FileSource): Promise<void> {
    if (this.#disposed) throw err('ENODEV', `${this.#device.uuid} is being removed`);
    // A host that runs gets the file now (and may refuse it); one started later gets it as it starts.
    const running = this.#host;
    if (running !== undefined) {
      const h = await running;
      if (h.alive) await sendFile(h, name, source);
    }
    this.#files.set(name, source);
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    const host = this.#host;
    this.#host = undefined;
    if (host === undefined) return;
    try {
      await (await host).shutdown();
    } catch {
      // It never started: nothing to stop.
    }
  }
}

/** Open the file in the root and hand the fd to the host; the root's copy is closed once the host answered. */
async function sendFile(host: HostProcess, name: string, source: FileSource): Promise<void> {
  const f = source();
  try {
    await host.call(Call.FILE, { name, size: f.size, kind: f.kind, readOnly: f.readOnly, label: f.label }, { fds: [f.fd] });
  } finally {
    safeClose(native, f.fd);
  }
}

/** A client's session in the device's host. */
class HostSession implements ActiveSession {
  readonly done: Promise<void>;
  #closed = false;
  #host: HostProcess | undefined;
  #ending: UmdevError | undefined;

  constructor(host: Promise<HostProcess>, fd: number, c: ServeContext) {
    this.done = this.#run(host, fd, c);
  }

  get closed(): boolean {
    return this.#closed;
  }

  get server(): string | undefined {
    return this.#host === undefined ? undefined : `device host pid ${this.#host.pid}`;
  }

  async #run(starting: Promise<HostProcess>, fd: number, c: ServeContext): Promise<void> {
    let owned = true;
    const release = (): void => {
      if (owned) safeClose(c.io, fd);
      owned = false;
    };
    try {
      const host = await starting;
      if (this.#ending !== undefined) throw this.#ending;
      const ended = new Promise<void>((resolve) => host.onSessionEnd(resolve));
      // The fds leave with the frame; the root's copies are closed once the host has answered (it has its own then).
      // A host cannot make sockets, so the pair for a twin socket comes from here, used or not.
      const pair = c.twin?.take() ?? [];
      try {
        await host.call(Call.SERVE, { who: c.who }, { fds: [fd, ...pair] });
      } finally {
        release();
        for (const p of pair) safeClose(c.io, p);
      }
      this.#host = host;
      if (this.#ending !== undefined) this.close(this.#ending);
      await ended;
    } catch (e) {
      release();
      const u = toUmdevError(e);
      if (this.#ending === undefined) c.log('warn', `cannot start a session: ${u.message}`);
    } finally {
      this.#closed = true;
    }
  }

  async probe(): Promise<boolean> {
    const host = this.#host;
    if (this.#closed) return false;
    // Still starting: the client has not even been handed over, so it counts as there.
    if (host === undefined) return true;
    try {
      return (await host.call(Call.PROBE)).json.attached as boolean;
    } catch {
      return !this.#closed;
    }
  }

  async negotiatedMigration(): Promise<boolean> {
    const host = this.#host;
    if (host === undefined || this.#closed) return false;
    try {
      return (await host.call(Call.PROBE)).json.migration === true;
    } catch {
      return false;
    }
  }

  close(reason: UmdevError): void {
    this.#ending ??= reason;
    const host = this.#host;
    if (host === undefined || this.#closed) return;
    host.call(Call.END_SESSION, { reason: reason.message }).catch(() => undefined);
  }
}
