/**
 * Concepts: the vfio-user server as a driver on the mdev bus (the seed's `vfio_mpci` role). It binds every device
 * whose API is `vfio-*`; a device whose vendor state is not a `PciDevice` fails its probe, and with it the create. probe listens on `<runDir>/<uuid>.sock` (created
 * with `socketMode`, default 0600, and its owner; a stale file unlinked first); remove closes the listener and any
 * connection and unlinks the socket. Who serves an accepted client is `runSession`'s choice: a session in this
 * process (`session.ts`) by default, or a device host.
 *
 * One client at a time: a second connection while the first is still connected is accepted, its first command
 * answered with an EBUSY error reply, and closed (after 1 s if it sends nothing). A refused client costs little: a
 * receive buffer of 256 bytes that grows to 4 KiB at most (a VERSION fits), and at most `maxRefused` of them are
 * open in the whole daemon; beyond that a new one is closed at once. When accept fails (EMFILE, ENFILE) the
 * listener is not watched for a while (100 ms, doubling to 1 s), so a full fd table does not spin the loop, and the
 * failures are logged at a limited rate. A connection that arrives once the first client has hung up (even before
 * the server has noticed, or while its session is being cleaned up) is
 * served as soon as that cleanup is done. A session takes a core handle (`core.open`), opens the device with a
 * DMA view, and on disconnect undoes it as libvfio-user's `vfu_reset_ctx` does: DMA windows dropped, the device
 * reset (libvfio-user calls its reset callback with VFU_RESET_LOST_CONN), closed (which releases the client's
 * eventfds), and the handle released. A forced removal revokes the handle, which closes the connection.
 * Removing a device while a client holds it is logged with who that client is (SO_PEERCRED, read at accept).
 */
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type UmdevError, err, toUmdevError } from '../errors.js';
import type { BusDriver, DeviceHandle, MdevDevice, Uuid } from '../core/types.js';
import { type Native, native as defaultNative } from '../native/index.js';
import type { VfioDevice } from '../vfio/device.js';
import { type MigrationPort, localPort } from '../vfio/migration-port.js';
import { type PciDevice, requirePciDevice } from '../vfio/pci-device.js';
import { screenPng } from '../display/screen.js';
import { errorReplyHeader } from './connection.js';
import { DEFAULT_MAX_DMA_MAPS, Flags, SERVER_MAX_DMA_MAPS } from './constants.js';
import { DmaBudget, defaultDmaBudget } from './dma-budget.js';
import type { Logger as BaseLogger } from '../log.js';
import { type Logger, makeLogger } from './log.js';
import { type LimitedLog, limitLog } from '../log-limit.js';
import { describeClient, startSession } from './session.js';
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
  /** Who serves an accepted client; default: a session in this process (`startSession`). */
  readonly runSession?: SessionRunner;
  /** In-process sessions busy-poll their client for up to this many ns after each reply (default 0: never). */
  readonly busyPollNs?: number;
  /** Refused clients open at once in the whole daemon (default 16); more are closed at once. */
  readonly maxRefused?: number;
  /** Each device socket is created with this mode (default 0600) and owner: never chmod'ed after it exists. */
  readonly socketMode?: number;
  readonly socketUid?: number;
  readonly socketGid?: number;
}

/** What the bus driver needs of a running session, wherever it runs. */
export interface ActiveSession {
  /** True once the client is gone (the device may still be being reset). */
  readonly closed: boolean;
  /** Notice a client that has already hung up (read its socket now), where the session can. */
  poll(): void;
  close(reason: UmdevError): void;
  /** Reset the instance the client uses, where it is not `model` itself (a device host's own copy). */
  reset?(): Promise<void>;
  /** The screen (PNG) of the instance the client uses, where it is not `model` itself. */
  screen?(): Promise<Buffer>;
  /** Resolves once the device is reset, closed and released. */
  readonly done: Promise<void>;
  /** Who serves the client, when it is not this process (`device host pid 42`); for log lines. */
  readonly server?: string;
  /** The migration of the instance the client uses, where it is not `model` itself (a device host's own copy). */
  openMigration?(owner: string): Promise<MigrationPort>;
  /** Whether the client has negotiated migration (asked about DEVICE_FEATURE MIGRATION); absent: cannot tell. */
  readonly canMigrate?: boolean;
}

/**
 * Serves one accepted client socket (owned from here on) for `device`, after `after` (the previous session).
 * `carry`: `model` holds state a migration brought in, which an instance elsewhere must start from.
 */
export type SessionRunner = (fd: number, device: MdevDevice, model: PciDevice, after: Promise<void>, carry: boolean) => ActiveSession;

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
    const model = requirePciDevice(device.driverData, `${device.parent.name} device ${device.uuid}`);
    if (this.#endpoints.has(device.uuid)) throw err('EEXIST', `${device.uuid} is already bound to vfio-user`);
    mkdirSync(this.#opts.runDir, { recursive: true });
    const path = this.socketPath(device.uuid);
    unlinkStale(path);
    const ep = new Endpoint(device, model, path, this.#io, this.#opts, this.#shared);
    this.#endpoints.set(device.uuid, ep);
    // A logger of its own for this one line: the endpoint makes the one it keeps when it first needs it.
    makeLogger(device.uuid, this.#opts.log)('info', `listening on ${path}`);
  }

  /**
   * Claim the device's migration for `owner` where its live state is: the instance a device host serves the
   * current client from, else the device itself. ENODEV for a device not bound here.
   */
  openMigration(uuid: Uuid, owner: string): Promise<MigrationPort> {
    const ep = this.#endpoints.get(uuid);
    if (!ep) return Promise.reject(err('ENODEV', `${uuid} is not served by vfio-user`));
    return ep.openMigration(owner);
  }

  /**
   * Whether the device's client could follow a migration: undefined when no client is attached (or its session
   * cannot tell), false when one is attached that never negotiated migration.
   */
  clientCanMigrate(uuid: Uuid): boolean | undefined {
    return this.#endpoints.get(uuid)?.clientCanMigrate;
  }

  /** The device's own instance now holds migrated state: the next session elsewhere starts from it. */
  carry(uuid: Uuid): void {
    this.#endpoints.get(uuid)?.carry();
  }

  /** Pass a reset on to the session's own instance of the device, when the session keeps one elsewhere. */
  async reset(device: MdevDevice): Promise<void> {
    await this.#endpoints.get(device.uuid)?.reset();
  }

  /**
   * The device's screen as PNG, from the instance a client uses (a device host's own) or else the bound one: ENODEV
   * for a device not bound here, EOPNOTSUPP without a display, EBUSY (with the reason) when it shows nothing.
   */
  async screen(uuid: Uuid): Promise<Buffer> {
    const ep = this.#endpoints.get(uuid);
    if (ep === undefined) throw err('ENODEV', `${uuid} is not bound to vfio-user`);
    return ep.screen();
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

/**
 * One device's listening socket and its (at most one) client session. Its loggers are made on first use and its
 * socket path is derived when needed: thousands of devices sit idle, and each keeps only what it must.
 */
class Endpoint {
  readonly #device: MdevDevice;
  readonly #model: PciDevice;
  /** Set by `carry`, taken by the next session. */
  #carry = false;
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
  /** The current client, as log lines name it (`vfio-user client pid 1234 (uid 0)`). */
  #client = 'vfio-user client';
  /** Cleanup of the previous session; a new session waits for it so the device is never opened twice. */
  #settled: Promise<void> = SETTLED;
  #closed = false;

  constructor(device: MdevDevice, model: PciDevice, path: string, io: Native, opts: VfioUserBusDriverOptions, shared: Shared) {
    this.#device = device;
    this.#model = model;
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

  get clientCanMigrate(): boolean | undefined {
    const c = this.#conn;
    return c === undefined || c.closed ? undefined : c.canMigrate;
  }

  get connected(): boolean {
    return this.#conn !== undefined;
  }

  async reset(): Promise<void> {
    if (this.#conn !== undefined && !this.#conn.closed) await this.#conn.reset?.();
  }

  async screen(): Promise<Buffer> {
    const conn = this.#conn;
    if (conn?.screen !== undefined && !conn.closed) return conn.screen();
    return screenPng(this.#model);
  }

  async openMigration(owner: string): Promise<MigrationPort> {
    const conn = this.#conn;
    if (conn !== undefined && !conn.closed && conn.openMigration) return conn.openMigration(owner);
    return localPort(this.#model, owner);
  }

  carry(): void {
    this.#carry = true;
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
      // A client that hangs up and reconnects at once makes both events arrive in one loop turn, the accept maybe
      // first: read the old socket now, so only a client that is still there makes this one a second client.
      this.#conn?.poll();
      if ((this.#conn && !this.#conn.closed) || this.#closed) this.#refuse(fd);
      // Chained synchronously, so close() and the next session both wait for this whole session (its cleanup too).
      else this.#settled = this.#session(fd, this.#settled);
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

  async #session(fd: number, previous: Promise<void>): Promise<void> {
    const run = this.#opts.runSession ?? ((f, device, model, after) => this.#inProcess(f, device, model, after));
    // Read before the runner owns the fd (a device host closes the root's copy once it has its own).
    const client = describeClient(this.#io, fd);
    const carry = this.#carry;
    this.#carry = false;
    const session = run(fd, this.#device, this.#model, previous, carry);
    this.#client = client;
    this.#conn = session;
    await session.done;
    if (this.#conn === session) this.#conn = undefined;
  }

  #inProcess(fd: number, device: MdevDevice, model: VfioDevice, after: Promise<void>): ActiveSession {
    const s = startSession({
      fd,
      device: model,
      open: () => this.#opts.core.open(device.uuid),
      io: this.#io,
      log: this.log,
      maxDmaMaps: this.#opts.maxDmaMaps,
      dmaBudget: this.#shared.budget,
      limited: this.#limited,
      after,
      busyPollNs: this.#opts.busyPollNs,
    });
    return {
      get closed() {
        return s.connection.closed;
      },
      poll: () => s.connection.transport.poll(),
      close: (reason) => s.connection.close(reason),
      get canMigrate() {
        return s.connection.migrationNegotiated;
      },
      done: s.done,
    };
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
      this.log('warn', `removing ${this.#device.uuid} while in use by ${this.#client}${conn.server === undefined ? '' : ` served by ${conn.server}`}`);
    }
    conn?.close(err('ENODEV', 'device removed'));
    await this.#settled;
  }
}
