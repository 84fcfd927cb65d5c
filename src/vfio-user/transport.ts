/**
 * Concepts: a `Transport` frames vfio-user messages (16-byte header + body) over one connection and carries the fds
 * that travel with them. It knows no command semantics. Writes leave in the order `send` was called: a message that
 * cannot be written whole is queued and the rest wait behind it until the socket is writable again.
 *
 * Fd placement: the sender attaches a message's fds to the first byte of that message (one sendmsg for header and
 * body, as libvfio-user and QEMU expect). Linux's `unix_stream_read_generic` consumes skbs in order, detaches the
 * fds of an skb when the read first touches it, and stops right after (or inside) that skb. So a read that returns
 * fds ends in the skb that begins their message, and the fds belong to the message containing the read's LAST byte
 * (earlier messages of the same read, such as a DMA_UNMAP sent just before a DMA_MAP, carry none).
 *
 * Backpressure: a peer that sends requests but never reads the replies would make the queue of unsent replies grow
 * without end (a 24-byte REGION_READ asks for a 1 MiB reply). Once more than `maxQueuedBytes` wait, the transport
 * stops reading until the peer has taken them; the peer's own sends then block in its socket. The receiver may
 * also `pause()` reading (its queue of work is full). While not reading, a hangup is still seen.
 */
import { err, type UmdevError, toUmdevError } from '../errors.js';
import { type Header, decodeHeader } from './codec.js';
import { HEADER_SIZE, MAX_MSG_SIZE } from './constants.js';
import { FdReady, type Native, type PeerCred } from '../native/index.js';
import type { BusyPoll } from '../native/busy-poll.js';

/** One received message. It owns `body` and `fds`; whoever handles it closes fds it does not keep. */
export interface Message {
  readonly header: Header;
  readonly body: Buffer;
  readonly fds: number[];
  /** Set when the header's size is impossible; the transport closes right after delivering it. */
  readonly malformed?: string;
}

/** A message connection. Owned by whoever created it; `close()` is idempotent and closes the socket. */
export interface Transport {
  /** The one message listener; returns its unsubscribe function. */
  onMessage(listener: (msg: Message) => void): () => void;
  /** Told once when the connection ends, with the reason when it was an error. */
  onClose(listener: (reason: UmdevError | undefined) => void): () => void;
  /**
   * Queue one message: `header` (its `size` is computed here), then `payload`, then `fds` attached to its first
   * byte. Messages leave in call order. The fds stay owned by the caller (the kernel duplicates them).
   */
  send(header: Omit<Header, 'size'>, payload?: Buffer | readonly Buffer[], fds?: readonly number[]): void;
  close(reason?: UmdevError): void;
  /** Stop reading until as many `resume()` calls (nested: each pause pairs with one resume). */
  pause(): void;
  resume(): void;
  /** Bytes of messages accepted by `send` and not yet taken by the socket. */
  readonly queuedBytes: number;
  /**
   * Take in now what the peer has already sent, as the next readable event would; a peer that hung up is seen at
   * once (the transport is closed when this returns).
   */
  poll(): void;
  readonly closed: boolean;
  /** The peer's credentials where the transport can read them (a Unix socket's SO_PEERCRED). */
  peer?(): PeerCred | undefined;
}

/** The part of the native addon a socket transport needs (passed in, so tests and tools choose the binding). */
export type NativeIo = Pick<Native, 'watch' | 'close' | 'recvMsgInto' | 'sendMsg' | 'send'>;

export interface SocketTransportOptions {
  /** Most fds accepted with one chunk; the kernel closes any beyond (MSG_CTRUNC). */
  readonly maxFds?: number;
  /** Largest acceptable `msg_size`; bigger is a framing error. */
  readonly maxMsgSize?: number;
  /** Keep the event loop alive while open (default true). */
  readonly ref?: boolean;
  /** Unsent reply bytes above which reading stops until the peer takes them (default 2 MiB). */
  readonly maxQueuedBytes?: number;
  /** Size of the first receive buffer (default 64 KiB); it grows only for a message that needs more. */
  readonly initialRx?: number;
  /**
   * The largest size acceptable for a message with this header, asked before any room is made for its body (a
   * peer that may send big messages only when asked for one); default `maxMsgSize` for every message.
   */
  readonly admit?: (header: Header) => number;
}

const INITIAL_RX = 64 * 1024;
const MAX_QUEUED_BYTES = 2 << 20;
/** Messages up to this size without fds are laid out in one reused buffer and leave with one send(2). */
const TX_STAGING = 4096;

/**
 * A `Transport` over a connected non-blocking AF_UNIX stream socket. Takes ownership of `fd` (closed by `close()`).
 */
export class SocketTransport implements Transport {
  readonly #fd: number;
  readonly #io: NativeIo;
  readonly #maxFds: number;
  readonly #maxMsgSize: number;
  readonly #watcher: ReturnType<NativeIo['watch']>;
  readonly #maxQueued: number;
  readonly #admit: ((header: Header) => number) | undefined;
  #rx: Buffer;
  #start = 0;
  #end = 0;
  /** Stream position of `#rx[0]`, so fd chunks can be placed by absolute position. */
  #base = 0;
  /** Fds not yet handed out, keyed by the stream position of the last byte of the read that brought them. */
  #pendingFds: { at: number; fds: number[] }[] = [];
  #txQueue: { bufs: Buffer[]; fds: readonly number[] | undefined }[] = [];
  #txBytes = 0;
  #holds = 0;
  /** The interest set the watcher has now (changed only through #rewatch). */
  #events = { readable: true, writable: false, hangup: false };
  /** Reused for the header of every message that goes out as parts (with fds, or too big for `#tx`). */
  readonly #txHeader = Buffer.allocUnsafe(HEADER_SIZE);
  /** Reused for every small message without fds (the common reply): header and payload copied in, one send. */
  readonly #tx = Buffer.allocUnsafe(TX_STAGING);
  /** recvMsgInto's fd slots: [count, fd...], reused by every read. */
  readonly #rxFds: Int32Array;
  #onMessage: ((msg: Message) => void) | undefined;
  #onClose: ((reason: UmdevError | undefined) => void) | undefined;
  #closed = false;
  #busyPoll: BusyPoll | undefined;
  #answered: () => boolean = () => false;

  constructor(fd: number, io: NativeIo, options: SocketTransportOptions = {}) {
    this.#fd = fd;
    this.#io = io;
    this.#maxFds = options.maxFds ?? 16;
    this.#maxMsgSize = options.maxMsgSize ?? MAX_MSG_SIZE;
    this.#maxQueued = options.maxQueuedBytes ?? MAX_QUEUED_BYTES;
    this.#admit = options.admit;
    this.#rx = Buffer.allocUnsafe(options.initialRx ?? INITIAL_RX);
    this.#rxFds = new Int32Array(this.#maxFds + 1);
    // watch() makes the fd non-blocking.
    this.#watcher = io.watch(fd, this.#events, (e, ready) => {
      if (e) this.close(toUmdevError(e));
      else this.#onEvent((ready & FdReady.HANGUP) !== 0);
    });
    if (options.ref === false) this.#watcher.unref();
  }

  /**
   * Busy-poll for the peer's next message after answering one, with `poll`'s window (undefined turns it off), and
   * only while `answered()` says every message delivered so far has had its reply sent (a reply still waiting on a
   * promise needs the event loop, not a spin).
   */
  busyPoll(poll: BusyPoll | undefined, answered: () => boolean): void {
    this.#busyPoll = poll;
    this.#answered = answered;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get queuedBytes(): number {
    return this.#txBytes;
  }

  pause(): void {
    this.#holds++;
    this.#rewatch();
  }

  resume(): void {
    if (this.#holds > 0) this.#holds--;
    this.#rewatch();
  }

  /** The socket fd (still owned by the transport). */
  get fd(): number {
    return this.#fd;
  }

  onMessage(listener: (msg: Message) => void): () => void {
    this.#onMessage = listener;
    return () => {
      if (this.#onMessage === listener) this.#onMessage = undefined;
    };
  }

  onClose(listener: (reason: UmdevError | undefined) => void): () => void {
    this.#onClose = listener;
    return () => {
      if (this.#onClose === listener) this.#onClose = undefined;
    };
  }

  send(header: Omit<Header, 'size'>, payload?: Buffer | readonly Buffer[], fds?: readonly number[]): void {
    if (this.#closed) throw err('ENOTCONN', 'vfio-user connection is closed');
    let size = HEADER_SIZE;
    if (payload !== undefined) {
      if (Buffer.isBuffer(payload)) size += payload.length;
      else for (let i = 0; i < payload.length; i++) size += payload[i]!.length;
    }
    const withFds = fds !== undefined && fds.length > 0;
    if (!withFds && size <= TX_STAGING) this.#sendStaged(header, payload, size);
    else this.#sendParts(header, payload, size, withFds ? fds : undefined);
  }

  /** Hot path (every small reply): header and payload copied into `#tx`, one send(2), nothing allocated. */
  #sendStaged(header: Omit<Header, 'size'>, payload: Buffer | readonly Buffer[] | undefined, size: number): void {
    const tx = this.#tx;
    writeHeader(tx, header, size);
    if (payload !== undefined) {
      if (Buffer.isBuffer(payload)) payload.copy(tx, HEADER_SIZE);
      else for (let i = 0, at = HEADER_SIZE; i < payload.length; at += payload[i]!.length, i++) payload[i]!.copy(tx, at);
    }
    if (this.#txQueue.length > 0) {
      // Something is already waiting: this message waits behind it, as a copy (`#tx` is reused).
      this.#queue([Buffer.from(tx.subarray(0, size))], undefined);
      return;
    }
    let sent: number;
    try {
      sent = this.#io.send(this.#fd, tx, 0, size);
    } catch (e) {
      this.close(toUmdevError(e));
      return;
    }
    if (sent === size) return;
    this.#queue([Buffer.from(tx.subarray(Math.max(sent, 0), size))], undefined);
  }

  /** Messages with fds or bigger than `#tx`: one sendmsg of the parts, the fds on the first byte. */
  #sendParts(header: Omit<Header, 'size'>, payload: Buffer | readonly Buffer[] | undefined, size: number, fds: readonly number[] | undefined): void {
    const bufs: Buffer[] = [this.#txHeader];
    if (payload !== undefined) {
      if (Buffer.isBuffer(payload)) bufs.push(payload);
      else bufs.push(...payload);
    }
    writeHeader(this.#txHeader, header, size);
    if (this.#txQueue.length > 0) {
      // Something is already waiting: this message waits behind it, as copies (the header buffer is reused).
      this.#queue(bufs.map((b) => Buffer.from(b)), fds);
      return;
    }
    let sent: number;
    try {
      sent = this.#io.sendMsg(this.#fd, bufs, fds);
    } catch (e) {
      this.close(toUmdevError(e));
      return;
    }
    if (sent === size) return;
    // Partial or EAGAIN: keep copies of the rest; fds went with the first byte if any byte was sent.
    this.#queue(skip(bufs, Math.max(sent, 0)).map((b) => Buffer.from(b)), sent > 0 ? undefined : fds);
  }

  #queue(bufs: Buffer[], fds: readonly number[] | undefined): void {
    this.#txQueue.push({ bufs, fds });
    for (const b of bufs) this.#txBytes += b.length;
    this.#rewatch();
  }

  close(reason?: UmdevError): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#watcher.stop();
    try {
      this.#io.close(this.#fd);
    } catch {
      // The fd is gone either way; nothing else holds it.
    }
    for (const p of this.#pendingFds) for (const f of p.fds) safeClose(this.#io, f);
    this.#pendingFds = [];
    this.#txQueue = [];
    this.#txBytes = 0;
    const cb = this.#onClose;
    this.#onClose = undefined;
    this.#onMessage = undefined;
    cb?.(reason);
  }

  poll(): void {
    if (!this.#closed) this.#read();
  }

  peer(): PeerCred | undefined {
    // Not part of NativeIo: a test's binding may lack it, and a transport without credentials still works.
    const io = this.#io as Partial<Pick<Native, 'peerCred'>>;
    if (this.#closed || io.peerCred === undefined) return undefined;
    try {
      return io.peerCred(this.#fd);
    } catch {
      return undefined;
    }
  }

  /** Read unless paused or too much waits to be sent; watch writability while anything waits. */
  #rewatch(): void {
    if (this.#closed) return;
    const reading = this.#holds === 0 && this.#txBytes <= this.#maxQueued;
    const writable = this.#txQueue.length > 0;
    const next = { readable: reading, writable, hangup: !reading };
    const cur = this.#events;
    if (cur.readable === next.readable && cur.writable === next.writable && cur.hangup === next.hangup) return;
    this.#events = next;
    this.#watcher.update(next);
  }

  #onEvent(hangup: boolean): void {
    if (this.#closed) return;
    this.#busyPoll?.woke();
    if (this.#txQueue.length > 0) this.#flush();
    if (this.#closed) return;
    if (this.#events.readable) this.#read();
    // Not reading (backpressure) and the peer is gone: nothing it sent still needs an answer.
    else if (hangup) this.close(err('ECONNRESET', 'the peer hung up while its input was paused'));
  }

  #flush(): void {
    while (this.#txQueue.length > 0) {
      const head = this.#txQueue[0]!;
      let sent: number;
      try {
        sent = this.#io.sendMsg(this.#fd, head.bufs, head.fds);
      } catch (e) {
        this.close(toUmdevError(e));
        return;
      }
      if (sent < 0) break;
      this.#txBytes -= Math.max(sent, 0);
      const total = head.bufs.reduce((n, b) => n + b.length, 0);
      if (sent < total) {
        head.bufs = skip(head.bufs, sent);
        if (sent > 0) head.fds = undefined;
        break;
      }
      this.#txQueue.shift();
    }
    this.#rewatch();
  }

  #read(): void {
    // One recvmsg per readable event unless it filled the buffer (the poller calls again while data remains), or,
    // busy polling, until a spin finds nothing.
    const slots = this.#rxFds;
    let spin = 0;
    for (;;) {
      if (!this.#events.readable) return;
      if (this.#end === this.#rx.length) this.#makeRoom(this.#start > 0 ? this.#end - this.#start + 1 : this.#rx.length * 2);
      const chunkAt = this.#base + this.#end;
      let bytes: number;
      const spunFrom = spin > 0 ? performance.now() : 0;
      try {
        bytes = this.#io.recvMsgInto(this.#fd, this.#rx, this.#end, this.#rx.length - this.#end, slots, spin);
      } catch (e) {
        this.close(toUmdevError(e));
        return;
      }
      if (spin > 0) this.#busyPoll?.spun((performance.now() - spunFrom) * 1e6);
      if (bytes < 0) {
        this.#busyPoll?.idle();
        return;
      }
      const nfds = slots[0]!;
      if (bytes === 0) {
        for (let i = 1; i <= nfds; i++) safeClose(this.#io, slots[i]!);
        this.close(undefined);
        return;
      }
      if (nfds > 0) this.#pendingFds.push({ at: chunkAt + bytes - 1, fds: Array.from(slots.subarray(1, 1 + nfds)) });
      const filled = bytes === this.#rx.length - this.#end;
      this.#end += bytes;
      this.#parse();
      if (this.#closed) return;
      if (filled) {
        spin = 0;
        continue;
      }
      spin = this.#spinNs();
      if (spin === 0) {
        this.#busyPoll?.idle();
        return;
      }
    }
  }

  /** How long the next read may wait for the peer: only busy polling, with every reply out and nothing queued. */
  #spinNs(): number {
    const poll = this.#busyPoll;
    if (poll === undefined || this.#txQueue.length > 0 || !this.#answered()) return 0;
    return poll.spinNs();
  }

  #parse(): void {
    while (!this.#closed && this.#end - this.#start >= HEADER_SIZE) {
      const header = decodeHeader(this.#rx, this.#start);
      const max = this.#admit === undefined ? this.#maxMsgSize : Math.min(this.#admit(header), this.#maxMsgSize);
      if (header.size < HEADER_SIZE || header.size > max) {
        const why = `msg_size ${header.size} outside [${HEADER_SIZE}, ${max}]`;
        // Its extent is unknown: it gets every fd received so far (the close right after releases them).
        this.#deliver({ header, body: Buffer.alloc(0), fds: this.#takeFds(Number.MAX_SAFE_INTEGER), malformed: why });
        this.close(err('EPROTO', `framing error: ${why}`));
        return;
      }
      if (this.#end - this.#start < header.size) {
        this.#makeRoom(header.size);
        return;
      }
      const last = this.#base + this.#start + header.size - 1;
      // The message owns a copy of its body: handlers may keep it across awaits while #rx is reused.
      const body = Buffer.allocUnsafe(header.size - HEADER_SIZE);
      this.#rx.copy(body, 0, this.#start + HEADER_SIZE, this.#start + header.size);
      this.#start += header.size;
      this.#deliver({ header, body, fds: this.#takeFds(last) });
    }
    if (this.#start === this.#end) {
      this.#base += this.#start;
      this.#start = this.#end = 0;
    }
  }

  /**
   * The fds of the message whose last byte is at stream position `last`: every pending batch whose read ended
   * inside it (earlier messages took theirs when they completed, so no batch before its first byte is left).
   */
  #takeFds(last: number): number[] {
    if (this.#pendingFds.length === 0 || this.#pendingFds[0]!.at > last) return [];
    const out: number[] = [];
    while (this.#pendingFds.length > 0 && this.#pendingFds[0]!.at <= last) out.push(...this.#pendingFds.shift()!.fds);
    return out;
  }

  #deliver(msg: Message): void {
    const cb = this.#onMessage;
    if (!cb) {
      for (const f of msg.fds) safeClose(this.#io, f);
      return;
    }
    try {
      cb(msg);
    } catch (e) {
      // A listener that throws is a bug; it must not escape into the poll callback (an uncaught exception
      // would take the whole daemon down). The connection ends and the reason says why.
      this.close(toUmdevError(e));
    }
  }

  /** Ensure `need` bytes fit from `#start`: compact to the front, growing when the message is bigger. */
  #makeRoom(need: number): void {
    if (this.#start === 0 && this.#rx.length >= need) return;
    const live = this.#end - this.#start;
    const size = Math.max(this.#rx.length, need);
    const next = size === this.#rx.length ? this.#rx : Buffer.allocUnsafe(size);
    this.#rx.copy(next, 0, this.#start, this.#end);
    this.#rx = next;
    this.#base += this.#start;
    this.#start = 0;
    this.#end = live;
  }
}

function writeHeader(buf: Buffer, h: Omit<Header, 'size'>, size: number): void {
  buf.writeUInt16LE(h.msgId & 0xffff, 0);
  buf.writeUInt16LE(h.cmd, 2);
  buf.writeUInt32LE(size, 4);
  buf.writeUInt32LE(h.flags >>> 0, 8);
  buf.writeUInt32LE(h.errorNo >>> 0, 12);
}

function skip(bufs: readonly Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of bufs) {
    if (n >= b.length) {
      n -= b.length;
      continue;
    }
    out.push(n > 0 ? b.subarray(n) : b);
    n = 0;
  }
  return out;
}

/** Close an fd nobody will use, ignoring EBADF (it may already be gone). */
export function safeClose(io: { close(fd: number): void }, fd: number): void {
  if (fd < 0) return;
  try {
    io.close(fd);
  } catch {
    // Already closed: the goal (fd not leaked) holds.
  }
}
