/**
 * Concepts: the vfio-user server as a driver on the mdev bus (the seed's `vfio_mpci` role). It binds every device
 * whose API is `vfio-*` and whose vendor state is a `VfioDevice`. probe listens on `<runDir>/<uuid>.sock` (mode
 * 0600, a stale file unlinked first); remove closes the listener and any connection and unlinks the socket.
 *
 * One client at a time: a second connection while the first is still connected is accepted, its first command
 * answered with an EBUSY error reply, and closed (after 5 s if it sends nothing). A connection that arrives once the
 * first client has hung up (even before the server has noticed, or while its session is being cleaned up) is
 * served as soon as that cleanup is done. A session takes a core handle (`core.open`), opens the device with a
 * DMA view, and on disconnect undoes it as libvfio-user's `vfu_reset_ctx` does: DMA windows dropped, the device
 * reset (libvfio-user calls its reset callback with VFU_RESET_LOST_CONN), closed (which releases the client's
 * eventfds), and the handle released. A forced removal revokes the handle, which closes the connection.
 * Removing a device while a client holds it is logged with who that client is (SO_PEERCRED, read at accept).
 */
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type UmdevError, err, toUmdevError } from '../core/errors.js';
import type { BusDriver, DeviceHandle, MdevDevice, Uuid } from '../core/types.js';
import { type Native, native as defaultNative } from '../native/index.js';
import { type VfioDevice, isVfioDevice } from '../vfio/device.js';
import { errorReplyHeader } from './connection.js';
import { DEFAULT_MAX_DMA_MAPS, Flags } from './constants.js';
import type { Logger as BaseLogger } from '../log.js';
import { type Logger, makeLogger } from './log.js';
import { RECV_MAX_FDS, startSession } from './session.js';
import { SocketTransport, safeClose } from './transport.js';

export interface VfioUserBusDriverOptions {
  /** The core whose devices are served; only `open` is used. */
  readonly core: { open(uuid: Uuid): DeviceHandle };
  /** Directory of the per-device sockets; created if missing. */
  readonly runDir: string;
  readonly native?: Native;
  /** umdev's logger; lines are `vfio-user[<uuid>]: …`. Default: stderr, `warn` and above (all with UMDEV_DEBUG). */
  readonly log?: BaseLogger;
  /** Concurrent DMA windows per client (announced as `max_dma_maps`), 1..65535. */
  readonly maxDmaMaps?: number;
  /** How long a refused second client may stay silent before it is closed (ms). */
  readonly refuseTimeoutMs?: number;
  /** Who serves an accepted client; default: a session in this process (`startSession`). */
  readonly runSession?: SessionRunner;
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
  /** Resolves once the device is reset, closed and released. */
  readonly done: Promise<void>;
  /** Who serves the client, when it is not this process (`device host pid 42`); for log lines. */
  readonly server?: string;
}

/** Serves one accepted client socket (owned from here on) for `device`, after `after` (the previous session). */
export type SessionRunner = (fd: number, device: MdevDevice, model: VfioDevice, after: Promise<void>) => ActiveSession;

/** Registered with `core.registerDriver`; owns one endpoint per bound device until `remove`. */
export class VfioUserBusDriver implements BusDriver {
  readonly name = 'vfio-user';
  readonly #opts: VfioUserBusDriverOptions;
  readonly #io: Native;
  readonly #endpoints = new Map<Uuid, Endpoint>();

  constructor(options: VfioUserBusDriverOptions) {
    const maps = options.maxDmaMaps ?? DEFAULT_MAX_DMA_MAPS;
    // QEMU refuses to connect to a server announcing more than its own 65535 (it may only lower the default).
    if (!Number.isInteger(maps) || maps < 1 || maps > DEFAULT_MAX_DMA_MAPS) {
      throw err('EINVAL', `maxDmaMaps ${maps} outside 1..${DEFAULT_MAX_DMA_MAPS}`);
    }
    this.#opts = options;
    this.#io = options.native ?? defaultNative;
  }

  match(device: MdevDevice): boolean {
    return device.type.deviceApi.startsWith('vfio-') && isVfioDevice(device.driverData);
  }

  /** The socket a client connects to for `uuid`. */
  socketPath(uuid: Uuid): string {
    return join(this.#opts.runDir, `${uuid}.sock`);
  }

  /** True while a client holds the device. */
  connected(uuid: Uuid): boolean {
    return this.#endpoints.get(uuid)?.connected ?? false;
  }

  probe(device: MdevDevice): void {
    if (!isVfioDevice(device.driverData)) throw err('EINVAL', `${device.uuid} is not a VFIO device`);
    if (this.#endpoints.has(device.uuid)) throw err('EEXIST', `${device.uuid} is already bound to vfio-user`);
    mkdirSync(this.#opts.runDir, { recursive: true });
    const path = this.socketPath(device.uuid);
    unlinkStale(path);
    const log = makeLogger(device.uuid, this.#opts.log);
    const ep = new Endpoint(device, device.driverData, path, this.#io, log, this.#opts);
    this.#endpoints.set(device.uuid, ep);
    log('info', `listening on ${path}`);
  }

  /** Pass a reset on to the session's own instance of the device, when the session keeps one elsewhere. */
  async reset(device: MdevDevice): Promise<void> {
    await this.#endpoints.get(device.uuid)?.reset();
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

function unlinkStale(path: string): void {
  try {
    if (statSync(path).isDirectory()) throw err('EISDIR', `${path} is a directory`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw toUmdevError(e);
  }
  rmSync(path, { force: true });
}

/** One device's listening socket and its (at most one) client session. */
class Endpoint {
  readonly #device: MdevDevice;
  readonly #model: VfioDevice;
  readonly #path: string;
  readonly #io: Native;
  readonly #log: Logger;
  readonly #opts: VfioUserBusDriverOptions;
  readonly #listenFd: number;
  readonly #watcher: ReturnType<Native['watch']>;
  #conn: ActiveSession | undefined;
  /** The current client, as log lines name it (`vfio-user client pid 1234 (uid 0)`). */
  #client = 'vfio-user client';
  /** Cleanup of the previous session; a new session waits for it so the device is never opened twice. */
  #settled: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(device: MdevDevice, model: VfioDevice, path: string, io: Native, log: Logger, opts: VfioUserBusDriverOptions) {
    this.#device = device;
    this.#model = model;
    this.#path = path;
    this.#io = io;
    this.#log = log;
    this.#opts = opts;
    this.#listenFd = io.listenUnix(path, 16, 0o600);
    this.#watcher = io.watch(this.#listenFd, { readable: true }, (e) => {
      if (e) this.#log('error', `listener failed: ${e.message}`);
      else this.#accept();
    });
  }

  get connected(): boolean {
    return this.#conn !== undefined;
  }

  async reset(): Promise<void> {
    if (this.#conn !== undefined && !this.#conn.closed) await this.#conn.reset?.();
  }

  #accept(): void {
    for (;;) {
      let fd: number;
      try {
        fd = this.#io.accept(this.#listenFd);
      } catch (e) {
        this.#log('warn', `accept failed: ${toUmdevError(e).message}`);
        return;
      }
      if (fd < 0) return;
      // A client that hangs up and reconnects at once makes both events arrive in one loop turn, the accept maybe
      // first: read the old socket now, so only a client that is still there makes this one a second client.
      this.#conn?.poll();
      if ((this.#conn && !this.#conn.closed) || this.#closed) this.#refuse(fd);
      // Chained synchronously, so close() and the next session both wait for this whole session (its cleanup too).
      else this.#settled = this.#session(fd, this.#settled);
    }
  }

  /** A second client: answer its first command EBUSY and hang up. */
  #refuse(fd: number): void {
    this.#log('info', 'refusing a second client: the device is in use');
    const t = new SocketTransport(fd, this.#io, { maxFds: RECV_MAX_FDS });
    const timer = setTimeout(() => t.close(), this.#opts.refuseTimeoutMs ?? 5000);
    timer.unref();
    t.onClose(() => clearTimeout(timer));
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
    const session = run(fd, this.#device, this.#model, previous);
    this.#client = client;
    this.#conn = session;
    await session.done;
    if (this.#conn === session) this.#conn = undefined;
  }

  #inProcess(fd: number, device: MdevDevice, model: VfioDevice, after: Promise<void>): ActiveSession {
    const s = startSession({ fd, device: model, open: () => this.#opts.core.open(device.uuid), io: this.#io, log: this.#log, maxDmaMaps: this.#opts.maxDmaMaps, after });
    return {
      get closed() {
        return s.connection.closed;
      },
      poll: () => s.connection.transport.poll(),
      close: (reason) => s.connection.close(reason),
      done: s.done,
    };
  }

  /** Stop listening, end the session, unlink the socket. Resolves when the device is closed. */
  async close(): Promise<void> {
    if (this.#closed) return this.#settled;
    this.#closed = true;
    this.#watcher.stop();
    safeClose(this.#io, this.#listenFd);
    rmSync(this.#path, { force: true });
    const conn = this.#conn;
    if (conn !== undefined && !conn.closed) {
      this.#log('warn', `removing ${this.#device.uuid} while in use by ${this.#client}${conn.server === undefined ? '' : ` served by ${conn.server}`}`);
    }
    conn?.close(err('ENODEV', 'device removed'));
    await this.#settled;
  }
}

/** `vfio-user client pid 1234 (uid 0)` from the socket's SO_PEERCRED; just `vfio-user client` where that fails. */
function describeClient(io: Native, fd: number): string {
  try {
    const c = io.peerCred(fd);
    return `vfio-user client pid ${c.pid} (uid ${c.uid})`;
  } catch {
    // A transport without peer credentials (a test's fake) still gets a line, only a vaguer one.
    return 'vfio-user client';
  }
}
