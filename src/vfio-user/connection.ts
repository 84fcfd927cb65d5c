/**
 * Concepts: one client connection of the vfio-user server. It turns messages into handler calls and handler
 * results into replies, and nothing else: which handler runs is the table in `server.ts`.
 *
 * - Commands run one at a time, in arrival order (spec "Command Concurrency"): while a handler awaits, later
 *   commands queue. Replies to the server's own DMA_READ/DMA_WRITE bypass that queue, or a handler awaiting DMA
 *   would wait for itself.
 * - A handler returns a reply or throws `UmdevError`; the throw becomes an error reply with that errno and the
 *   connection stays open. Anything else thrown is a bug: logged with its stack and answered `EIO`.
 * - The queue is bounded: past `MAX_QUEUED` commands (a handler awaits a DMA reply the client never sends, and the
 *   client keeps sending) the transport stops reading until the queue drains.
 * - Twin-socket mode (negotiated in VERSION): the server's own DMA_READ/DMA_WRITE and their replies travel on a
 *   socket pair of their own, so they never interleave with the client's requests and replies. The twin carries
 *   nothing else: a command from the client on it, or its loss, ends the connection.
 * - A handler takes the fds it keeps by overwriting their slot in `msg.fds` with -1 (libvfio-user's
 *   `consume_fd`); every fd left afterwards is closed here.
 */
import { performance } from 'node:perf_hooks';
import { type UmdevError, err, errnoName, isUmdevError, toUmdevError } from '../errors.js';
import type { ClientInfo, DeviceActivity } from '../vfio/device-activity.js';
import { VFIO_DEVICE_STATE } from '../vfio/constants.js';
import type { VfioDevice, VfioRegionInfo } from '../vfio/device.js';
import { type Capabilities, type Header, encodeDmaAccess, parseCapabilities } from './codec.js';
import { Command, FD_COMMANDS, Flags, HEADER_SIZE, commandName } from './constants.js';
import type { DmaBudget } from './dma-budget.js';
import type { DirtyLog } from './dirty-log.js';
import { DmaSpace, type MemIo } from './dma-space.js';
import type { TwinSource } from './instance.js';
import type { Logger } from './log.js';
import { type Message, type NativeIo, SocketTransport, type Transport, safeClose } from './transport.js';

/** What a handler answers: payload parts (sent with one sendmsg) and fds to pass (still owned by the handler). */
export interface Reply {
  readonly payload?: Buffer | readonly Buffer[];
  readonly fds?: readonly number[];
}

/** One command's handler. Sync handlers are answered in the same tick (the REGION_READ hot path). */
export type Handler = (conn: Connection, msg: Message) => Reply | undefined | Promise<Reply | undefined>;

export interface ConnectionOptions {
  readonly device: VfioDevice;
  readonly transport: Transport;
  readonly io: MemIo;
  readonly log: Logger;
  readonly handlers: ReadonlyMap<number, Handler>;
  readonly maxDmaMaps: number;
  /** The daemon-wide count of mappings and fds held by DMA windows. */
  readonly dmaBudget: DmaBudget;
  /** Where a twin socket pair comes from; absent: twin-socket mode is not offered. */
  readonly twin?: { readonly source: TwinSource; readonly io: NativeIo };
}

const NO_CAPS = parseCapabilities(undefined, 0);
/**
 * Commands that would change what STOP_COPY is saving (libvfio-user `cmd_allowed_when_stopped_and_copying` lets
 * only region accesses, DEVICE_FEATURE and MIG_DATA_READ through; queries and DEVICE_RESET are harmless here).
 */
const REFUSED_IN_STOP_COPY: ReadonlySet<number> = new Set([Command.DMA_MAP, Command.DMA_UNMAP, Command.DEVICE_SET_IRQS, Command.MIG_DATA_WRITE]);
/** Commands waiting behind a busy handler before reading stops; QEMU has a few posted writes in flight at most. */
const MAX_QUEUED = 256;

/** Owned by the bus driver's session; closed when the transport closes or `close()` is called. */
export class Connection {
  readonly device: VfioDevice;
  readonly log: Logger;
  readonly dma: DmaSpace;
  readonly transport: Transport;
  /** Set by VERSION; until then only VERSION is accepted. */
  negotiated = false;
  clientCaps: Capabilities = NO_CAPS;
  /** Set once the client asked about the device's migration (DEVICE_FEATURE MIGRATION): it can follow one. */
  migrationNegotiated = false;
  /** The dirty-page log while DMA logging is on (DMA_LOGGING_START until STOP or the end of the connection). */
  dirtyLog: DirtyLog | undefined;
  readonly #handlers: ReadonlyMap<number, Handler>;
  readonly #io: MemIo;
  readonly #queue: Message[] = [];
  /** True while this connection holds the transport paused because the queue is full. */
  #held = false;
  /** True while a handler awaits, and until `start()` (the device is not open before that). */
  #busy = true;
  readonly #pending = new Map<number, { resolve: (m: Message) => void; reject: (e: UmdevError) => void }>();
  #nextId = 0;
  #regions: (VfioRegionInfo | undefined)[] = [];
  #closeListeners: ((reason: UmdevError | undefined) => void)[] = [];
  readonly #twinSource: ConnectionOptions['twin'];
  /** The server end of the twin socket, once negotiated, and the client's end (kept until the reply has left). */
  #twin: SocketTransport | undefined;
  #twinPeer: number | undefined;
  /** Where requests are counted (the device's own recorder), and the client this connection attached there. */
  readonly #activity: DeviceActivity | undefined;
  #attached: ClientInfo | undefined;

  constructor(options: ConnectionOptions) {
    this.device = options.device;
    this.#activity = options.device.activity;
    this.log = options.log;
    this.transport = options.transport;
    this.#handlers = options.handlers;
    this.#io = options.io;
    this.#twinSource = options.twin;
    this.dma = new DmaSpace(
      options.io,
      (cmd, iova, count, data) => this.#remoteDma(cmd, iova, count, data),
      () => this.clientCaps.maxDataXferSize,
      options.maxDmaMaps,
      options.dmaBudget,
    );
    this.transport.onMessage((m) => this.#onMessage(m));
    this.transport.onClose((reason) => this.#onClosed(reason));
    const peer = this.#activity === undefined ? undefined : this.transport.peer?.();
    if (peer !== undefined) this.#attached = this.#activity?.attach(peer);
  }

  /** Every command received so far has been handled and its reply handed to the transport, and the device is idle. */
  get answered(): boolean {
    return !this.#busy && this.#queue.length === 0 && this.device.busy !== true;
  }

  /** Begin handling commands (after the device accepted the open). */
  start(): void {
    this.#busy = false;
    this.#drain();
  }

  /** Told once when the connection is gone; the DMA space is already dropped by then. */
  onClose(listener: (reason: UmdevError | undefined) => void): () => void {
    this.#closeListeners.push(listener);
    return () => {
      this.#closeListeners = this.#closeListeners.filter((l) => l !== listener);
    };
  }

  close(reason?: UmdevError): void {
    this.transport.close(reason);
  }

  get closed(): boolean {
    return this.transport.closed;
  }

  /**
   * Enter twin-socket mode (VERSION): make the pair and serve the server's end; the client's end, to send with the
   * reply, is returned (the connection closes it when it ends). Undefined when the session offers no twin socket.
   */
  openTwin(): number | undefined {
    const source = this.#twinSource;
    if (source === undefined || this.#twin !== undefined) return undefined;
    const [mine, theirs] = source.source.take();
    const twin = new SocketTransport(mine, source.io, { maxFds: 4 });
    twin.onMessage((m) => {
      if ((m.header.flags & Flags.TYPE_MASK) === Flags.TYPE_REPLY && !m.malformed) return this.#onReply(m);
      for (const fd of m.fds) safeClose(this.#io, fd);
      this.close(err('EPROTO', `the client sent ${commandName(m.header.cmd)} on the twin socket, which carries only the server's commands`));
    });
    twin.onClose(() => {
      if (!this.closed) this.close(err('ECONNRESET', 'the client closed the twin socket'));
    });
    this.#twin = twin;
    this.#twinPeer = theirs;
    return theirs;
  }

  /** The client's VERSION did not ask for a twin socket: a pair made in advance for it goes now. */
  declineTwin(): void {
    if (this.#twin === undefined) this.#twinSource?.source.drop();
  }

  /** True once twin-socket mode is on. */
  get twinned(): boolean {
    return this.#twin !== undefined;
  }

  /** The device's region info, cached per connection (regions do not change while a client has the device). */
  region(index: number): VfioRegionInfo {
    if (!Number.isInteger(index) || index < 0 || index >= this.device.numRegions) {
      throw err('EINVAL', `no region ${index} (device has ${this.device.numRegions})`);
    }
    return (this.#regions[index] ??= this.device.regionInfo(index));
  }

  #onMessage(msg: Message): void {
    if ((msg.header.flags & Flags.TYPE_MASK) === Flags.TYPE_REPLY && !msg.malformed) {
      this.#onReply(msg);
      return;
    }
    // A framing error ends the connection right after this call, so it is answered now even behind a busy handler.
    if (this.#busy && !msg.malformed) {
      this.#queue.push(msg);
      if (this.#queue.length >= MAX_QUEUED && !this.#held) {
        this.#held = true;
        this.transport.pause();
      }
      return;
    }
    this.#process(msg);
  }

  #drain(): void {
    while (!this.#busy && this.#queue.length > 0 && !this.closed) this.#process(this.#queue.shift()!);
    if (this.#held && this.#queue.length < MAX_QUEUED / 2 && !this.closed) {
      this.#held = false;
      this.transport.resume();
    }
  }

  #process(msg: Message): void {
    const h = msg.header;
    const t0 = performance.now();
    let result: Reply | undefined | Promise<Reply | undefined>;
    try {
      result = this.#dispatch(msg);
    } catch (e) {
      this.#finish(msg, e, undefined, t0);
      return;
    }
    if (result instanceof Promise) {
      this.#busy = true;
      result.then(
        (r) => this.#finish(msg, undefined, r, t0),
        (e: unknown) => this.#finish(msg, e, undefined, t0),
      ).finally(() => {
        this.#busy = false;
        this.#drain();
      });
      return;
    }
    // Inline success path: the common REGION_READ/WRITE round trip allocates nothing more than its reply.
    if (!(h.flags & Flags.NO_REPLY) && !this.closed) {
      this.transport.send({ msgId: h.msgId, cmd: h.cmd, flags: Flags.TYPE_REPLY, errorNo: 0 }, result?.payload, result?.fds);
    }
    if (this.#twinPeer !== undefined) this.#releaseTwinPeer();
    this.#activity?.request((performance.now() - t0) / 1000, false);
    if (msg.fds.length > 0) this.#closeLeftovers(msg);
  }

  /**
   * Close this process's copy of the client's twin end once the reply carrying it has left (the kernel holds it
   * then): while this copy lives, the client hanging its end up would go unnoticed.
   */
  #releaseTwinPeer(): void {
    if (this.#twinPeer === undefined || this.transport.queuedBytes > 0) return;
    safeClose(this.#io, this.#twinPeer);
    this.#twinPeer = undefined;
  }

  #dispatch(msg: Message): Reply | undefined | Promise<Reply | undefined> {
    const h = msg.header;
    if (msg.malformed) throw err('EINVAL', msg.malformed);
    if ((h.flags & Flags.TYPE_MASK) !== Flags.TYPE_COMMAND) throw err('EINVAL', `message type ${h.flags & Flags.TYPE_MASK}`);
    if (!this.negotiated && h.cmd !== Command.VERSION) {
      throw err('EINVAL', `${commandName(h.cmd)} before VERSION`);
    }
    const handler = this.#handlers.get(h.cmd);
    if (!handler) throw err('EINVAL', `bad command ${commandName(h.cmd)}`);
    if (msg.fds.length > 0 && !FD_COMMANDS.has(h.cmd)) throw err('EINVAL', `${commandName(h.cmd)} carried ${msg.fds.length} fds`);
    if (h.size === HEADER_SIZE && h.cmd !== Command.DEVICE_RESET) throw err('EINVAL', `no payload for ${commandName(h.cmd)}`);
    if (REFUSED_IN_STOP_COPY.has(h.cmd) && this.device.migration?.state === VFIO_DEVICE_STATE.STOP_COPY) {
      throw err('EINVAL', `${commandName(h.cmd)} while the device is in STOP_COPY`);
    }
    return handler(this, msg);
  }

  #finish(msg: Message, e: unknown, reply: Reply | undefined, t0: number): void {
    const h = msg.header;
    if (this.#twinPeer !== undefined) this.#releaseTwinPeer();
    this.#activity?.request((performance.now() - t0) / 1000, e !== undefined);
    if (e === undefined) {
      if (!(h.flags & Flags.NO_REPLY) && !this.closed) {
        this.transport.send({ msgId: h.msgId, cmd: h.cmd, flags: Flags.TYPE_REPLY, errorNo: 0 }, reply?.payload, reply?.fds);
      }
    } else {
      const ue = toUmdevError(e);
      if (!isUmdevError(e)) {
        // Not an errno-shaped failure: a bug in a handler or device. Logged loudly, answered EIO.
        this.log('error', `${commandName(h.cmd)} failed with a bug: ${e instanceof Error ? e.stack : String(e)}`);
      } else {
        this.log('debug', `msg ${h.msgId}: ${commandName(h.cmd)} failed: ${ue.errno}: ${ue.message}`);
      }
      // A NO_REPLY command gets no reply even when it fails (libvfio-user do_reply); framing errors always do.
      if ((!(h.flags & Flags.NO_REPLY) || msg.malformed) && !this.closed) {
        this.transport.send({ msgId: h.msgId, cmd: h.cmd, flags: Flags.TYPE_REPLY | Flags.ERROR, errorNo: ue.code });
      }
      // Without a negotiated version there is no session to keep (spec: the server closes the connection).
      if (!this.negotiated && !this.closed) this.close(ue);
    }
    if (msg.fds.length > 0) this.#closeLeftovers(msg);
  }

  #closeLeftovers(msg: Message): void {
    for (let i = 0; i < msg.fds.length; i++) {
      const fd = msg.fds[i]!;
      if (fd < 0) continue;
      this.log('debug', `closing unexpected fd (index ${i}) of ${commandName(msg.header.cmd)}`);
      safeClose(this.#io, fd);
      msg.fds[i] = -1;
    }
  }

  #onReply(msg: Message): void {
    const p = this.#pending.get(msg.header.msgId);
    for (const fd of msg.fds) safeClose(this.#io, fd);
    if (!p) {
      this.log('debug', `dropping unexpected reply ${msg.header.msgId} (${commandName(msg.header.cmd)})`);
      return;
    }
    this.#pending.delete(msg.header.msgId);
    if (msg.header.flags & Flags.ERROR) {
      p.reject(err(errnoName(msg.header.errorNo), `client answered ${commandName(msg.header.cmd)} with error ${msg.header.errorNo}`));
    } else {
      p.resolve(msg);
    }
  }

  async #remoteDma(cmd: number, iova: bigint, count: number, data?: Buffer): Promise<Buffer> {
    if (this.closed) throw err('ENOTCONN', 'the vfio-user client is gone');
    let id = this.#nextId;
    // msg_ids are 16 bits; skip ids still awaiting a reply.
    for (let tries = 0; this.#pending.has(id) && tries < 0x10000; tries++) id = (id + 1) & 0xffff;
    if (this.#pending.has(id)) throw err('EAGAIN', 'too many DMA requests in flight');
    this.#nextId = (id + 1) & 0xffff;
    const reply = new Promise<Message>((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    const head = encodeDmaAccess(iova, BigInt(count));
    (this.#twin ?? this.transport).send({ msgId: id, cmd, flags: Flags.TYPE_COMMAND, errorNo: 0 }, data ? [head, data] : [head]);
    const m = await reply;
    // DMA_READ replies carry {addr, count, data}; DMA_WRITE replies {addr, count}.
    return cmd === Command.DMA_READ ? m.body.subarray(16) : Buffer.alloc(0);
  }

  #onClosed(reason: UmdevError | undefined): void {
    if (reason && reason.errno === 'EIO') this.log('error', `connection failed: ${reason.message}\n${(reason.cause as Error | undefined)?.stack ?? ''}`);
    else this.log('debug', `connection closed${reason ? `: ${reason.errno}: ${reason.message}` : ''}`);
    for (const m of this.#queue) for (const fd of m.fds) safeClose(this.#io, fd);
    this.#queue.length = 0;
    const gone = err('ECONNRESET', 'the vfio-user client went away');
    for (const p of this.#pending.values()) p.reject(gone);
    this.#pending.clear();
    this.dirtyLog = undefined;
    this.dma.writeLog = undefined;
    this.dma.close();
    this.#twin?.close();
    if (this.#twinPeer !== undefined) safeClose(this.#io, this.#twinPeer);
    this.#twinPeer = undefined;
    if (this.#attached !== undefined) this.#activity?.detach(this.#attached);
    for (const l of this.#closeListeners.splice(0)) l(reason);
  }
}

/** The header of a reply to `h` (used by the refusal path, which has no Connection). */
export function errorReplyHeader(h: Header, errorNo: number): Omit<Header, 'size'> {
  return { msgId: h.msgId, cmd: h.cmd, flags: Flags.TYPE_REPLY | Flags.ERROR, errorNo };
}
