/**
 * Concepts: the vfio-user server as a driver on the mdev bus (the seed's `vfio_mpci` role). It binds every device
 * whose API is `vfio-*` and whose vendor state is a device instance (`DeviceInstance`, or a bare `PciDevice`, served
 * in this process); anything else fails its probe, and with it the create. probe listens on `<runDir>/<uuid>.sock`
 * (created with `socketMode`, default 0600, and its owner; a stale file unlinked first); remove closes the listener
 * and any connection and unlinks the socket. An accepted client is handed to the device's instance, which serves it
 * where the device lives (this process, or the device's host).
 *
 * One client at a time, as the kernel's single open of a vfio device: a connection while another client is really
 * there is accepted, its first command answered with an EBUSY error reply, and closed (after 1 s if it sends
 * nothing). A client that arrives while the previous one is still being let go (it hung up; the device is closing)
 * waits for that, up to `reopenWaitMs`, and is then served: a VMM that reconnects at once is never refused. A
 * refused client costs little: a receive buffer of 256 bytes that grows to 4 KiB at most (a VERSION fits), and at
 * most `maxRefused` of them are open in the whole daemon; beyond that a new one is closed at once. When accept fails
 * (EMFILE, ENFILE) the listener is not watched for a while (100 ms, doubling to 1 s), so a full fd table does not spin
 * the loop, and the failures are logged at a limited rate.
 *
 * Each session holds a core handle (`core.open`) from before the device is opened until after it is closed; a forced
 * removal revokes it, which ends the session, and a plain removal's wait asks the instance to have the client let go
 * (REQ). Removing a device while a client holds it is logged with who that client is (SO_PEERCRED, read at accept).
 */
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { err, toUmdevError } from '../errors.js';
import type { BusDriver, DeviceHandle, MdevDevice, Uuid } from '../core/index.js';
import { type Native, native as defaultNative } from '../native/index.js';
import { PciDevice } from '../vfio/pci-device.js';
import { errorReplyHeader } from './connection.js';
import { DEFAULT_MAX_DMA_MAPS, Flags, SERVER_MAX_DMA_MAPS } from './constants.js';
import { DmaBudget, defaultDmaBudget } from './dma-budget.js';
import type { ClientInfo } from '../vfio/device-activity.js';
import { type ActiveSession, DeviceInstance, type ServeContext } from './instance.js';
import { LocalInstance } from './local-instance.js';
import type { Logger as BaseLogger } from '../log.js';
import { type Logger, makeLogger } from './log.js';
import { type LimitedLog, limitLog } from '../log-limit.js';
import { clientName } from './session.js';
import { SocketTransport, safeClose } from './transport.js';

export interface VfioUserBusDriverOptions {
  /** The core whose devices are served; only `open` is used. */
  readonly core: { open(uuid: Uuid): DeviceHandle };
  /** Directory of the per-device sockets; created if missing. */
  readonly runDir: string;
  readonly native?: Native;
  /** umdev's logger; lines are `vfio-user[<uuid>]: …`. Default: stderr, `warn` and above (all with UMDEV_DEBUG). */
  readonly log?: BaseLogger;
  /** Concurrent DMA windows per client (announced as `max_dma_maps`), 1..65535; default 1024. */
  readonly maxDmaMaps?: number;
  /**
   * Mappings and fds all clients' DMA windows may hold together (ENOSPC past it); default a quarter of
   * `vm.max_map_count` and of RLIMIT_NOFILE, at most 16384.
   */
  readonly dmaBudget?: number;
  /** How long a refused second client may stay silent before it is closed (ms, default 1000). */
  readonly refuseTimeoutMs?: number;
  /** How long a new client waits for the previous one's session to end before it is refused (ms, default 5000). */
  readonly reopenWaitMs?: number;
  /** Sessions in this process busy-poll their client for up to this many ns after each reply (default 0: never). */
  readonly busyPollNs?: number;
  /** Refused clients open at once in the whole daemon (default 16); more are closed at once. */
  readonly maxRefused?: number;
  /** Each device socket is created with this mode (default 0600) and owner: never chmod'ed after it exists. */
  readonly socketMode?: number;
  readonly socketUid?: number;
  readonly socketGid?: number;
}

/** State every endpoint of one bus driver shares. */
interface Shared {
  readonly budget: DmaBudget;
  /** Refused connections still open (waiting for their first header). */
  refused: number;
  readonly limited: LimitedLog;
}

/** Largest first message a refused client may send whole (QEMU's VERSION is about 200 bytes). */
const REFUSED_MAX_MSG = 4096;
const ACCEPT_BACKOFF_MIN_MS = 100;
const ACCEPT_BACKOFF_MAX_MS = 1000;

/** Registered with `core.registerDriver`; owns one endpoint per bound device until `remove`. */
export class VfioUserBusDriver implements BusDriver {
  readonly name = 'vfio-user';
  readonly #opts: VfioUserBusDriverOptions;
  readonly #io: Native;
  readonly #endpoints = new Map<Uuid, Endpoint>();
  readonly #shared: Shared;

  constructor(options: VfioUserBusDriverOptions) {
    const maps = options.maxDmaMaps ?? SERVER_MAX_DMA_MAPS;
    // QEMU refuses to connect to a server announcing more than its own 65535 (it may only lower the default).
    if (!Number.isInteger(maps) || maps < 1 || maps > DEFAULT_MAX_DMA_MAPS) {
      throw err('EINVAL', `maxDmaMaps ${maps} outside 1..${DEFAULT_MAX_DMA_MAPS}`);
    }
    this.#opts = options;
    this.#io = options.native ?? defaultNative;
    const log = makeLogger(undefined, options.log);
    this.#shared = { budget: new DmaBudget(options.dmaBudget ?? defaultDmaBudget()), refused: 0, limited: limitLog(log) };
  }

  /** The daemon-wide DMA budget (its `used` count is what every client's windows hold now). */
  get dmaBudget(): DmaBudget {
    return this.#shared.budget;
  }

  /** Refused connections open now (bounded by `maxRefused`). */
  get refusedOpen(): number {
    return this.#shared.refused;
  }

  match(device: MdevDevice): boolean {
    return device.type.deviceApi.startsWith('vfio-');
  }

  /** The socket a client connects to for `uuid`. */
  socketPath(uuid: Uuid): string {
    return socketPathIn(this.#opts.runDir, uuid);
  }

  /** True while a client holds the device. */
  connected(uuid: Uuid): boolean {
    return this.#endpoints.get(uuid)?.connected ?? false;
  }

  probe(device: MdevDevice): void {
    const instance = instanceOf(device);
    if (this.#endpoints.has(device.uuid)) throw err('EEXIST', `${device.uuid} is already bound to vfio-user`);
    mkdirSync(this.#opts.runDir, { recursive: true });
    const path = this.socketPath(device.uuid);
    unlinkStale(path);
    const ep = new Endpoint(device, instance, path, this.#io, this.#opts, this.#shared);
    this.#endpoints.set(device.uuid, ep);
    // A logger of its own for this one line: the endpoint makes the one it keeps when it first needs it.
    makeLogger(device.uuid, this.#opts.log)('info', `listening on ${path}`);
  }

  /**
   * Whether the client attached to `uuid` could follow a migration (it asked about DEVICE_FEATURE MIGRATION):
   * undefined when nobody is attached, or when the session is not in this process (a device host's says nothing here).
   */
  clientCanMigrate(uuid: Uuid): Promise<boolean | undefined> {
    return this.#endpoints.get(uuid)?.clientCanMigrate() ?? Promise.resolve(undefined);
  }

  /** Who is attached to `uuid` now, by the credentials its socket had at accept (SO_PEERCRED); undefined: nobody. */
  client(uuid: Uuid): ClientInfo | undefined {
    return this.#endpoints.get(uuid)?.client;
  }

  async remove(device: MdevDevice): Promise<void> {
    const ep = this.#endpoints.get(device.uuid);
    if (!ep) return;
    this.#endpoints.delete(device.uuid);
    await ep.close();
  }

  /** Unbind everything (daemon shutdown). Idempotent. */
  async close(): Promise<void> {
    const all = [...this.#endpoints.values()];
    this.#endpoints.clear();
    await Promise.all(all.map((ep) => ep.close()));
  }
}

function socketPathIn(runDir: string, uuid: Uuid): string {
  return join(runDir, `${uuid}.sock`);
}

function unlinkStale(path: string): void {
  try {
    if (statSync(path).isDirectory()) throw err('EISDIR', `${path} is a directory`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw toUmdevError(e);
  }
  rmSync(path, { force: true });
}

/** Nothing to wait for: what an endpoint's first session starts after. */
const SETTLED: Promise<void> = Promise.resolve();
const REOPEN_WAIT_MS = 5000;

/** The instance a bound device is served by: its vendor state, or a bare `PciDevice` served in this process. */
function instanceOf(device: MdevDevice): DeviceInstance {
  const state = device.driverData;
  if (state instanceof DeviceInstance) return state;
  if (state instanceof PciDevice) return new LocalInstance(state);
  const got = state === null || typeof state !== 'object' ? String(state) : `an object of class ${state.constructor?.name ?? 'Object'}`;
  throw err('EINVAL', `${device.parent.name} device ${device.uuid}: the driver's create returned ${got}, not a PciDevice (declare the device with the device contract, src/sdk)`);
}

/**
 * One device's listening socket and its (at most one) client session. Its loggers are made on first use and its
 * socket path is derived when needed: thousands of devices sit idle, and each keeps only what it must.
 */
class Endpoint {
  readonly #device: MdevDevice;
  readonly #instance: DeviceInstance;
  readonly #io: Native;
  readonly #opts: VfioUserBusDriverOptions;
  readonly #shared: Shared;
  readonly #listenFd: number;
  readonly #watcher: ReturnType<Native['watch']>;
  /** Set while accept is backing off; the listener is not watched until it fires. */
  #backoff: NodeJS.Timeout | undefined;
  #backoffMs = ACCEPT_BACKOFF_MIN_MS;
  #logger: Logger | undefined;
  #limitedLog: LimitedLog | undefined;
  #conn: ActiveSession | undefined;
  /** The current client, as log lines name it (`vfio-user client pid 1234 (uid 0)`), and its credentials. */
  #client: { who: string; info: ClientInfo | undefined } | undefined;
  /** The current session's end (device closed, handle released); a new session starts only after it. */
  #settled: Promise<void> = SETTLED;
  /** Accepted clients are admitted one at a time, in order: each sees what the one before decided. */
  #admitting: Promise<void> = SETTLED;
  #closed = false;

  constructor(device: MdevDevice, instance: DeviceInstance, path: string, io: Native, opts: VfioUserBusDriverOptions, shared: Shared) {
    this.#device = device;
    this.#instance = instance;
    this.#io = io;
    this.#opts = opts;
    this.#shared = shared;
    this.#listenFd = io.listenUnix(path, 16, opts.socketMode ?? 0o600, opts.socketGid, opts.socketUid);
    this.#watcher = io.watch(this.#listenFd, { readable: true }, (e) => {
      if (e) this.log('error', `listener failed: ${e.message}`);
      else this.#accept();
    });
  }

  /** Logs as `vfio-user[<uuid>]`. */
  get log(): Logger {
    return (this.#logger ??= makeLogger(this.#device.uuid, this.#opts.log));
  }

  /** Lines that a client or a full fd table can repeat in a loop. */
  get #limited(): LimitedLog {
    return (this.#limitedLog ??= limitLog(this.log));
  }

  get #path(): string {
    return socketPathIn(this.#opts.runDir, this.#device.uuid);
  }

  get connected(): boolean {
    return this.#conn !== undefined;
  }

  /** Whether the attached client negotiated migration; undefined when none is attached. */
  async clientCanMigrate(): Promise<boolean | undefined> {
    const conn = this.#conn;
    if (conn === undefined || conn.closed) return undefined;
    return conn.negotiatedMigration();
  }

  get client(): ClientInfo | undefined {
    return this.#conn !== undefined && !this.#conn.closed ? this.#client?.info : undefined;
  }

  #accept(): void {
    for (;;) {
      let fd: number;
      try {
        fd = this.#io.accept(this.#listenFd);
      } catch (e) {
        this.#backOff(toUmdevError(e).message);
        return;
      }
      if (fd < 0) return;
      this.#backoffMs = ACCEPT_BACKOFF_MIN_MS;
      this.#admitting = this.#admitting.then(() => this.#admit(fd));
    }
  }

  /**
   * Serve `fd`, or refuse it while another client is really there. A client that hangs up and reconnects at once
   * makes both events arrive close together, the accept maybe first: the old client is probed (its socket read) so
   * only one that is still there makes this one a second client; one that is gone is waited out.
   */
  async #admit(fd: number): Promise<void> {
    try {
      if (this.#closed) return safeClose(this.#io, fd);
      const conn = this.#conn;
      if (conn !== undefined && !conn.closed && (await conn.probe())) return this.#refuse(fd);
      const wait = this.#opts.reopenWaitMs ?? REOPEN_WAIT_MS;
      let timer: NodeJS.Timeout | undefined;
      const ended = await Promise.race([
        this.#settled.then(() => true),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), wait);
        }),
      ]);
      clearTimeout(timer);
      if (this.#closed) return safeClose(this.#io, fd);
      if (!ended) {
        this.#limited('reopen', 'warn', `refusing a client: the previous one's session did not end within ${wait} ms`);
        return this.#refuse(fd);
      }
      // Chained synchronously, so close() and the next admission both wait for this whole session.
      this.#settled = this.#session(fd);
    } catch (e) {
      safeClose(this.#io, fd);
      this.log('error', `admitting a client failed: ${toUmdevError(e).message}`);
    }
  }

  /** The listener stays readable while accept fails: stop watching it for a while instead of spinning. */
  #backOff(why: string): void {
    const ms = this.#backoffMs;
    this.#limited('accept', 'warn', `accept failed: ${why}; retrying in ${ms} ms`);
    this.#backoffMs = Math.min(ms * 2, ACCEPT_BACKOFF_MAX_MS);
    this.#watcher.update({});
    const timer = setTimeout(() => {
      this.#backoff = undefined;
      if (this.#closed) return;
      this.#watcher.update({ readable: true });
    }, ms);
    timer.unref();
    this.#backoff = timer;
  }

  /** A second client: answer its first command EBUSY and hang up. */
  #refuse(fd: number): void {
    const shared = this.#shared;
    if (shared.refused >= (this.#opts.maxRefused ?? 16)) {
      shared.limited('refuse-full', 'warn', `closing a refused client at once: ${shared.refused} refused clients are open`);
      safeClose(this.#io, fd);
      return;
    }
    this.#limited('refuse', 'info', 'refusing a second client: the device is in use');
    // The first message is read whole (closing on unread bytes would reset the socket before the client reads the
    // EBUSY), but a VERSION is small: anything past REFUSED_MAX_MSG is answered from its header alone.
    const t = new SocketTransport(fd, this.#io, { maxFds: 8, maxMsgSize: REFUSED_MAX_MSG, initialRx: 256, maxQueuedBytes: 0 });
    shared.refused++;
    const timer = setTimeout(() => t.close(), this.#opts.refuseTimeoutMs ?? 1000);
    timer.unref();
    t.onClose(() => {
      shared.refused--;
      clearTimeout(timer);
    });
    t.onMessage((m) => {
      for (const f of m.fds) safeClose(this.#io, f);
      if ((m.header.flags & Flags.TYPE_MASK) === Flags.TYPE_COMMAND) t.send(errorReplyHeader(m.header, 16 /* EBUSY */));
      t.close();
    });
  }

  /** One client's session, holding the device's core handle from before the instance opens it until it is closed. */
  async #session(fd: number): Promise<void> {
    let peer: { pid: number; uid: number; gid: number } | undefined;
    try {
      peer = this.#io.peerCred(fd);
    } catch {
      // A transport without peer credentials: the client is known by its log name only.
    }
    const who = clientName(peer);
    let handle: DeviceHandle;
    try {
      // Pairs with handle.release() below, once the session is over.
      handle = this.#opts.core.open(this.#device.uuid);
    } catch (e) {
      // The device is going away (or gone): the client is turned away like one that came too late.
      this.log('debug', `cannot start a session: ${toUmdevError(e).message}`);
      safeClose(this.#io, fd);
      return;
    }
    let session: ActiveSession | undefined;
    const offRevoke = handle.onRevoke((reason) => session?.close(err('ENODEV', `device revoked: ${reason}`)));
    const offRequest = handle.onRequest((count) => {
      this.log('info', `removal waits for ${who} to release the device (request ${count})`);
      this.#instance.requestRelease(count);
    });
    try {
      const context: ServeContext = {
        who,
        io: this.#io,
        log: this.log,
        limited: this.#limited,
        maxDmaMaps: this.#opts.maxDmaMaps,
        dmaBudget: this.#shared.budget,
        busyPollNs: this.#opts.busyPollNs,
        // Made when a client asks: this process may make sockets.
        twin: { take: () => this.#io.socketpair(), drop: () => undefined },
      };
      try {
        session = this.#instance.serve(fd, context);
      } catch (e) {
        safeClose(this.#io, fd);
        this.#limited('session', 'warn', `cannot start a session: ${toUmdevError(e).message}`);
        return;
      }
      this.#conn = session;
      this.#client = { who, info: peer === undefined ? undefined : { pid: peer.pid, uid: peer.uid, gid: peer.gid, since: Date.now() } };
      if (handle.released) session.close(err('ENODEV', 'device revoked'));
      await session.done;
    } finally {
      offRevoke();
      offRequest();
      handle.release();
      if (this.#conn === session) this.#conn = undefined;
    }
  }

  /** Stop listening, end the session, unlink the socket. Resolves when the device is closed. */
  async close(): Promise<void> {
    if (this.#closed) return this.#settled;
    this.#closed = true;
    if (this.#backoff) clearTimeout(this.#backoff);
    this.#watcher.stop();
    safeClose(this.#io, this.#listenFd);
    rmSync(this.#path, { force: true });
    const conn = this.#conn;
    if (conn !== undefined && !conn.closed) {
      this.log('warn', `removing ${this.#device.uuid} while in use by ${this.#client?.who ?? 'a vfio-user client'}${conn.server === undefined ? '' : ` served by ${conn.server}`}`);
    }
    conn?.close(err('ENODEV', 'device removed'));
    await this.#admitting;
    await this.#settled;
  }
}
