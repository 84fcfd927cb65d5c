/**
 * Concepts: a promise-based vfio-user client, for tests, benches and tools. Each request gets a fresh `msg_id` and
 * resolves with the reply carrying the same id; an error reply rejects with a `UmdevError` whose `errno` is the
 * server's `error_no`. Server→client commands (DMA_READ/DMA_WRITE for windows mapped without an fd) are answered
 * from buffers registered with `serveDma`.
 */
import { type UmdevError, err, errnoName } from '../errors.js';
import { type Native, native as defaultNative } from '../native/index.js';
import {
  type Capabilities,
  type MultiWrite,
  type RegionInfo,
  decodeDmaAccess,
  decodeQuad,
  decodeRegionInfo,
  decodeVersion,
  encodeArgszPair,
  encodeDmaMap,
  encodeDmaUnmap,
  encodeIrqSet,
  encodeQuad,
  encodeRegionAccess,
  encodeRegionInfoRequest,
  encodeVersion,
  encodeWriteMulti,
  parseCapabilities,
} from './codec.js';
import { VFIO_DEVICE_FEATURE } from '../vfio/constants.js';
import { Command, DEFAULT_MAX_DATA_XFER_SIZE, DmaMapFlags, FeatureFlags, Flags, Size, VERSION_MAJOR, VERSION_MINOR } from './constants.js';
import { type Message, SocketTransport, safeClose } from './transport.js';

export interface ClientOptions {
  readonly native?: Native;
  /** Capabilities offered in VERSION (`{"capabilities": …}` is built from them). */
  readonly maxMsgFds?: number;
  readonly maxDataXferSize?: number;
  readonly writeMultiple?: boolean;
  /** Skip VERSION (for tests that speak out of turn). */
  readonly negotiate?: boolean;
  /** Offer twin-socket mode: the server's DMA_READ/DMA_WRITE then come on a socket of their own. */
  readonly twinSocket?: boolean;
}

export interface DeviceInfo {
  readonly flags: number;
  readonly numRegions: number;
  readonly numIrqs: number;
}

export interface IrqInfo {
  readonly flags: number;
  readonly index: number;
  readonly count: number;
}

/** A reply and the fds that came with it (the caller owns them). */
export interface ClientReply {
  readonly body: Buffer;
  readonly fds: number[];
}

/** Owned by its creator; `close()` hangs up. Fds returned by methods (region fds) belong to the caller. */
export class VfioUserClient {
  readonly #io: Native;
  readonly #t: SocketTransport;
  readonly #pending = new Map<number, { resolve: (m: Message) => void; reject: (e: UmdevError) => void }>();
  readonly #served: { iova: bigint; mem: Buffer; gate?: (cmd: number, iova: bigint, count: number) => Promise<void> | void }[] = [];
  #nextId = 1;
  #closedReason: UmdevError | undefined;
  readonly #closed: Promise<void>;
  /** The server's VERSION reply (after negotiation). */
  serverVersion: { major: number; minor: number } | undefined;
  serverCaps: Capabilities | undefined;
  /** The twin socket the server set up, when it did. */
  #twin: SocketTransport | undefined;
  /** Server commands (DMA_READ/DMA_WRITE) answered, by the socket they came on. */
  readonly serverCommands = { main: 0, twin: 0 };

  private constructor(fd: number, io: Native) {
    this.#io = io;
    this.#t = new SocketTransport(fd, io, { maxFds: 253 });
    this.#t.onMessage((m) => this.#onMessage(m));
    this.#closed = new Promise((resolve) => {
      this.#t.onClose((reason) => {
        this.#closedReason = reason ?? err('ECONNRESET', 'the vfio-user server closed the connection');
        for (const p of this.#pending.values()) p.reject(this.#closedReason);
        this.#pending.clear();
        resolve();
      });
    });
  }

  /** Connect to a server socket and negotiate (unless `negotiate: false`). */
  static async connect(path: string, options: ClientOptions = {}): Promise<VfioUserClient> {
    const io = options.native ?? defaultNative;
    return VfioUserClient.fromFd(io.connectUnix(path), options);
  }

  /** Wrap an already connected socket (takes ownership of `fd`). */
  static async fromFd(fd: number, options: ClientOptions = {}): Promise<VfioUserClient> {
    const c = new VfioUserClient(fd, options.native ?? defaultNative);
    if (options.negotiate !== false) {
      try {
        await c.negotiate(options);
      } catch (e) {
        c.close();
        throw e;
      }
    }
    return c;
  }

  get closed(): boolean {
    return this.#t.closed;
  }

  /** Resolves when the connection has ended (either side). */
  whenClosed(): Promise<void> {
    return this.#closed;
  }

  /** Send VERSION with our capabilities; records the server's. */
  async negotiate(options: ClientOptions = {}): Promise<void> {
    const caps: Record<string, unknown> = {
      max_msg_fds: options.maxMsgFds ?? 16,
      max_data_xfer_size: options.maxDataXferSize ?? DEFAULT_MAX_DATA_XFER_SIZE,
    };
    if (options.writeMultiple) caps.write_multiple = true;
    if (options.twinSocket) caps.twin_socket = { supported: true };
    const reply = await this.request(Command.VERSION, encodeVersion({ major: VERSION_MAJOR, minor: VERSION_MINOR, json: { capabilities: caps } }));
    const v = decodeVersion(reply.body);
    this.serverVersion = { major: v.major, minor: v.minor };
    this.serverCaps = parseCapabilities(v.json, 1 << 16);
    const twin = (v.json?.capabilities as Record<string, unknown> | undefined)?.twin_socket as { supported?: unknown; fd_index?: unknown } | undefined;
    if (twin?.supported === true) {
      const fd = typeof twin.fd_index === 'number' ? reply.fds[twin.fd_index] : undefined;
      // Spec: a reply that says twin mode without a valid fd is inconsistent: the client must close the connection.
      if (!options.twinSocket || fd === undefined) {
        for (const x of reply.fds) safeClose(this.#io, x);
        this.close();
        throw err('EPROTO', 'the server announced a twin socket it did not send');
      }
      for (const x of reply.fds) if (x !== fd) safeClose(this.#io, x);
      const t = new SocketTransport(fd, this.#io, { maxFds: 4 });
      t.onMessage((m) => {
        for (const x of m.fds) safeClose(this.#io, x);
        if ((m.header.flags & Flags.TYPE_MASK) === Flags.TYPE_COMMAND) this.#serveCommand(m, t);
      });
      this.#twin = t;
    } else {
      for (const x of reply.fds) safeClose(this.#io, x);
    }
  }

  /** Hang up the twin socket alone (a test of what the server does without it). */
  closeTwin(): void {
    this.#twin?.close();
  }

  /** True when the server set up a twin socket. */
  get twinned(): boolean {
    return this.#twin !== undefined;
  }

  /**
   * Send one command and await its reply. `payload` parts go out in one sendmsg with `fds` attached.
   * Rejects with the server's errno on an error reply, ECONNRESET if the connection ends first.
   */
  request(cmd: number, payload?: Buffer | readonly Buffer[], fds?: readonly number[]): Promise<ClientReply> {
    if (this.#t.closed) return Promise.reject(this.#closedReason ?? err('ENOTCONN', 'closed'));
    const id = this.#allocId();
    const reply = new Promise<Message>((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    this.#t.send({ msgId: id, cmd, flags: Flags.TYPE_COMMAND, errorNo: 0 }, payload, fds);
    return reply.then((m) => ({ body: m.body, fds: m.fds }));
  }

  /** Send a command with NO_REPLY set: nothing comes back, even on error. */
  post(cmd: number, payload?: Buffer | readonly Buffer[], fds?: readonly number[]): void {
    this.#t.send({ msgId: this.#allocId(), cmd, flags: Flags.TYPE_COMMAND | Flags.NO_REPLY, errorNo: 0 }, payload, fds);
  }

  async deviceInfo(): Promise<DeviceInfo> {
    const r = await this.request(Command.DEVICE_GET_INFO, encodeQuad({ argsz: Size.DEVICE_INFO, flags: 0, a: 0, b: 0 }));
    const q = decodeQuad(Command.DEVICE_GET_INFO, r.body);
    return { flags: q.flags, numRegions: q.a, numIrqs: q.b };
  }

  /** Region info with its sparse areas; `fd` (the caller's to close) when the region is mmap-able. */
  async regionInfo(index: number, argsz = 4096): Promise<RegionInfo & { fd?: number }> {
    const r = await this.request(Command.DEVICE_GET_REGION_INFO, encodeRegionInfoRequest(index, argsz));
    const info = decodeRegionInfo(r.body);
    for (const extra of r.fds.slice(1)) safeClose(this.#io, extra);
    return r.fds.length > 0 ? { ...info, fd: r.fds[0]! } : info;
  }

  async irqInfo(index: number): Promise<IrqInfo> {
    const r = await this.request(Command.DEVICE_GET_IRQ_INFO, encodeQuad({ argsz: Size.IRQ_INFO, flags: 0, a: index, b: 0 }));
    const q = decodeQuad(Command.DEVICE_GET_IRQ_INFO, r.body);
    return { flags: q.flags, index: q.a, count: q.b };
  }

  async read(region: number, offset: bigint | number, count: number): Promise<Buffer> {
    const r = await this.request(Command.REGION_READ, encodeRegionAccess(BigInt(offset), region, count));
    return count === 0 ? Buffer.alloc(0) : r.body.subarray(Size.REGION_ACCESS);
  }

  /** A trapped write; `posted` sends it with NO_REPLY (as QEMU's posted writes) and resolves at once. */
  async write(region: number, offset: bigint | number, data: Buffer, options: { posted?: boolean } = {}): Promise<void> {
    const parts = [encodeRegionAccess(BigInt(offset), region, data.length), data];
    if (options.posted) this.post(Command.REGION_WRITE, parts);
    else await this.request(Command.REGION_WRITE, parts);
  }

  async writeMulti(writes: readonly MultiWrite[]): Promise<number> {
    const r = await this.request(Command.REGION_WRITE_MULTI, encodeWriteMulti(writes));
    return Number(r.body.readBigUInt64LE(0));
  }

  /** DEVICE_SET_IRQS; `fds` (eventfds, still the caller's) for DATA_EVENTFD, `bools` for DATA_BOOL. */
  async setIrqs(s: { index: number; flags: number; start: number; count: number; fds?: readonly number[]; bools?: readonly boolean[] }): Promise<void> {
    const data = Buffer.from((s.bools ?? []).map((b) => (b ? 1 : 0)));
    await this.request(Command.DEVICE_SET_IRQS, encodeIrqSet({ flags: s.flags, index: s.index, start: s.start, count: s.count, data }), s.fds);
  }

  /** DMA_MAP; with `fd` (still the caller's) the server mmaps it at `offset`, without it the window is served by messages. */
  async dmaMap(m: { iova: bigint; size: bigint; flags?: number; fd?: number; offset?: bigint }): Promise<void> {
    const flags = m.flags ?? DmaMapFlags.READ | DmaMapFlags.WRITE;
    const body = encodeDmaMap({ argsz: Size.DMA_MAP, flags, offset: m.offset ?? 0n, iova: m.iova, size: m.size });
    await this.request(Command.DMA_MAP, body, m.fd === undefined ? undefined : [m.fd]);
  }

  async dmaUnmap(u: { iova: bigint; size: bigint; flags?: number }): Promise<void> {
    await this.request(Command.DMA_UNMAP, encodeDmaUnmap({ argsz: Size.DMA_UNMAP, flags: u.flags ?? 0, iova: u.iova, size: u.size }));
  }

  async reset(): Promise<void> {
    await this.request(Command.DEVICE_RESET);
  }

  /** DEVICE_FEATURE: `flags` (feature | GET/SET/PROBE) with `data`; resolves with the reply's data part. */
  async feature(flags: number, data: Buffer = Buffer.alloc(0), argsz = 8 + Math.max(data.length, 8)): Promise<Buffer> {
    const r = await this.request(Command.DEVICE_FEATURE, encodeArgszPair({ argsz, word: flags, data }));
    return r.body.subarray(8);
  }

  /** The VFIO_MIGRATION_* flags (DEVICE_FEATURE GET MIGRATION). */
  async migrationFlags(): Promise<number> {
    return Number((await this.feature(FeatureFlags.GET | VFIO_DEVICE_FEATURE.MIGRATION)).readBigUInt64LE(0));
  }

  /** The migration state (GET MIG_DEVICE_STATE). */
  async migrationState(): Promise<number> {
    return (await this.feature(FeatureFlags.GET | VFIO_DEVICE_FEATURE.MIG_DEVICE_STATE)).readUInt32LE(0);
  }

  /** SET MIG_DEVICE_STATE; resolves with the state the server reports. */
  async setMigrationState(state: number): Promise<number> {
    const data = Buffer.alloc(8);
    data.writeUInt32LE(state, 0);
    data.writeInt32LE(-1, 4);
    return (await this.feature(FeatureFlags.SET | VFIO_DEVICE_FEATURE.MIG_DEVICE_STATE, data)).readUInt32LE(0);
  }

  /** MIG_DATA_READ of up to `size` bytes; an empty result ends what is ready. */
  async migrationRead(size: number): Promise<Buffer> {
    const r = await this.request(Command.MIG_DATA_READ, encodeArgszPair({ argsz: 8 + size, word: size, data: Buffer.alloc(0) }));
    const n = r.body.readUInt32LE(4);
    return r.body.subarray(8, 8 + n);
  }

  /** MIG_DATA_WRITE of `data`. */
  async migrationWrite(data: Buffer): Promise<void> {
    await this.request(Command.MIG_DATA_WRITE, encodeArgszPair({ argsz: 8 + data.length, word: data.length, data }));
  }

  /**
   * Answer the server's DMA_READ/DMA_WRITE for [iova, iova+mem.length) from `mem` (kept by reference). With `gate`,
   * each answer waits for it (a test holding a device's DMA in flight).
   */
  serveDma(iova: bigint, mem: Buffer, gate?: (cmd: number, iova: bigint, count: number) => Promise<void> | void): () => void {
    const entry = { iova, mem, ...(gate === undefined ? {} : { gate }) };
    this.#served.push(entry);
    return () => {
      const i = this.#served.indexOf(entry);
      if (i >= 0) this.#served.splice(i, 1);
    };
  }

  /** Hang up (idempotent). Pending requests reject with ECONNRESET. */
  close(): Promise<void> {
    this.#twin?.close();
    this.#t.close();
    return this.#closed;
  }

  #allocId(): number {
    let id = this.#nextId;
    while (this.#pending.has(id)) id = (id + 1) & 0xffff;
    this.#nextId = (id + 1) & 0xffff;
    return id;
  }

  #onMessage(m: Message): void {
    const type = m.header.flags & Flags.TYPE_MASK;
    if (type === Flags.TYPE_REPLY) {
      const p = this.#pending.get(m.header.msgId);
      if (!p) {
        for (const fd of m.fds) safeClose(this.#io, fd);
        return;
      }
      this.#pending.delete(m.header.msgId);
      if (m.header.flags & Flags.ERROR) {
        for (const fd of m.fds) safeClose(this.#io, fd);
        p.reject(err(errnoName(m.header.errorNo), `server answered msg ${m.header.msgId} with error ${m.header.errorNo}`));
      } else {
        p.resolve(m);
      }
      return;
    }
    for (const fd of m.fds) safeClose(this.#io, fd);
    this.#serveCommand(m, this.#t);
  }

  #serveCommand(m: Message, t: SocketTransport): void {
    const h = m.header;
    if (t === this.#twin) this.serverCommands.twin++;
    else this.serverCommands.main++;
    const fail = (errorNo: number) =>
      t.send({ msgId: h.msgId, cmd: h.cmd, flags: Flags.TYPE_REPLY | Flags.ERROR, errorNo });
    if (h.cmd !== Command.DMA_READ && h.cmd !== Command.DMA_WRITE) return fail(22 /* EINVAL */);
    if (m.body.length < Size.DMA_ACCESS) return fail(22);
    const a = decodeDmaAccess(h.cmd, m.body);
    const count = Number(a.count);
    const w = this.#served.find((s) => a.iova >= s.iova && a.iova + a.count <= s.iova + BigInt(s.mem.length));
    if (!w) return fail(14 /* EFAULT */);
    if (w.gate !== undefined) {
      // Answered once the gate opens, from the memory only if it is still served then (EFAULT otherwise).
      void Promise.resolve(w.gate(h.cmd, a.iova, count)).then(() => (this.#served.includes(w) ? this.#answerDma(t, m, w, a.iova, count, a.data) : fail(14)));
      return undefined;
    }
    this.#answerDma(t, m, w, a.iova, count, a.data);
    return undefined;
  }

  #answerDma(t: SocketTransport, m: Message, w: { iova: bigint; mem: Buffer }, iova: bigint, count: number, data: Buffer): void {
    const h = m.header;
    if (t.closed) return;
    const at = Number(iova - w.iova);
    const head = m.body.subarray(0, Size.DMA_ACCESS);
    if (h.cmd === Command.DMA_READ) {
      t.send({ msgId: h.msgId, cmd: h.cmd, flags: Flags.TYPE_REPLY, errorNo: 0 }, [head, w.mem.subarray(at, at + count)]);
    } else {
      if (data.length !== count) {
        t.send({ msgId: h.msgId, cmd: h.cmd, flags: Flags.TYPE_REPLY | Flags.ERROR, errorNo: 22 });
        return;
      }
      data.copy(w.mem, at);
      t.send({ msgId: h.msgId, cmd: h.cmd, flags: Flags.TYPE_REPLY, errorNo: 0 }, head);
    }
  }
}
