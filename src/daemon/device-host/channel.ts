/**
 * Concepts: the channel between umdevd and one device host, a connected AF_UNIX stream socket (the host's fd 3).
 * Frames reuse the vfio-user framing code (`SocketTransport`: a 16-byte header, the body, fds on the first byte):
 * `cmd` is the call's kind, `msgId` its sequence number, `flags` say command or reply (error replies carry an errno
 * number), and the body is a JSON part (a u32 length, then UTF-8) followed by binary data (migration bytes, a
 * screen's PNG), so binary never travels as base64 in JSON.
 *
 * The channel only frames; it trusts nothing it carries. A frame whose JSON part is not JSON, or longer than
 * `MAX_JSON`, comes out `malformed`, and its receiver decides what that costs the peer (the root: the host's life).
 */
import { type UmdevError, err } from '../../errors.js';
import type { Native } from '../../native/index.js';
import type { Header } from '../../vfio-user/codec.js';
import { Flags } from '../../vfio-user/constants.js';
import { SocketTransport, safeClose } from '../../vfio-user/transport.js';

/** Longest JSON part of a frame, in bytes. */
export const MAX_JSON = 64 * 1024;
/** Most fds one frame may carry (a client socket). */
const MAX_FDS = 4;

/** One received frame. Its receiver owns `fds`. */
export interface Frame {
  readonly kind: number;
  readonly seq: number;
  readonly reply: boolean;
  /** Set on an error reply: the errno number the peer sent (unchecked). */
  readonly errno: number | undefined;
  /** The parsed JSON part (unchecked: validate before use). */
  readonly json: unknown;
  readonly data: Buffer;
  readonly fds: number[];
}

export interface ChannelOptions {
  /** Largest frame accepted at all. */
  readonly maxFrame: number;
  /** Largest frame acceptable for a header (asked before room is made for its body); default `maxFrame`. */
  readonly admit?: (kind: number, seq: number, reply: boolean) => number;
  /** Keep the event loop alive while open (default true). */
  readonly ref?: boolean;
}

/** A framed channel over `fd` (owned from here on). */
export class Channel {
  readonly #transport: SocketTransport;
  readonly #io: Pick<Native, 'close'>;
  #onFrame: ((f: Frame) => void) | undefined;
  #onMalformed: ((why: string) => void) | undefined;

  constructor(fd: number, io: Native, o: ChannelOptions) {
    this.#io = io;
    const admit = o.admit;
    this.#transport = new SocketTransport(fd, io, {
      maxFds: MAX_FDS,
      maxMsgSize: o.maxFrame,
      ...(o.ref === undefined ? {} : { ref: o.ref }),
      ...(admit === undefined ? {} : { admit: (h: Header) => admit(h.cmd, h.msgId, (h.flags & Flags.TYPE_MASK) === Flags.TYPE_REPLY) }),
    });
    this.#transport.onMessage((m) => {
      if (m.malformed !== undefined) return this.#malformed(m.fds, m.malformed);
      const body = m.body;
      if (body.length < 4) return this.#malformed(m.fds, `a frame of ${body.length} body bytes has no JSON length`);
      const jsonLength = body.readUInt32LE(0);
      if (jsonLength > MAX_JSON || jsonLength > body.length - 4) return this.#malformed(m.fds, `a JSON part of ${jsonLength} bytes`);
      let json: unknown;
      try {
        json = jsonLength === 0 ? {} : JSON.parse(body.toString('utf8', 4, 4 + jsonLength));
      } catch {
        return this.#malformed(m.fds, 'a JSON part that is not JSON');
      }
      const reply = (m.header.flags & Flags.TYPE_MASK) === Flags.TYPE_REPLY;
      const frame: Frame = {
        kind: m.header.cmd,
        seq: m.header.msgId,
        reply,
        errno: (m.header.flags & Flags.ERROR) !== 0 ? m.header.errorNo : undefined,
        json,
        data: body.subarray(4 + jsonLength),
        fds: m.fds,
      };
      const cb = this.#onFrame;
      if (cb === undefined) for (const f of m.fds) safeClose(this.#io, f);
      else cb(frame);
      return undefined;
    });
  }

  #malformed(fds: readonly number[], why: string): void {
    for (const f of fds) safeClose(this.#io, f);
    this.#onMalformed?.(why);
  }

  onFrame(listener: (f: Frame) => void): void {
    this.#onFrame = listener;
  }

  /** Told about a frame that cannot be read (bad framing, bad JSON); a framing error also closes the channel. */
  onMalformed(listener: (why: string) => void): void {
    this.#onMalformed = listener;
  }

  onClose(listener: (reason: UmdevError | undefined) => void): void {
    this.#transport.onClose(listener);
  }

  get closed(): boolean {
    return this.#transport.closed;
  }

  /** Bytes accepted by `send` and not yet taken by the socket. */
  get queuedBytes(): number {
    return this.#transport.queuedBytes;
  }

  /** Send one frame; `fds` stay the caller's (the kernel duplicates them). */
  send(kind: number, seq: number, o: { reply?: boolean; errno?: number; json?: unknown; data?: Uint8Array; fds?: readonly number[] } = {}): void {
    if (this.#transport.closed) throw err('EPIPE', 'the device host channel is closed');
    const json = Buffer.from(o.json === undefined ? '' : JSON.stringify(o.json), 'utf8');
    if (json.length > MAX_JSON) throw err('E2BIG', `a channel frame with ${json.length} bytes of JSON`);
    const head = Buffer.allocUnsafe(4);
    head.writeUInt32LE(json.length, 0);
    const parts: Buffer[] = [head, json];
    if (o.data !== undefined && o.data.length > 0) parts.push(Buffer.from(o.data.buffer, o.data.byteOffset, o.data.byteLength));
    const type = o.reply === true ? Flags.TYPE_REPLY : Flags.TYPE_COMMAND;
    this.#transport.send({ msgId: seq, cmd: kind, flags: type | (o.errno === undefined ? 0 : Flags.ERROR), errorNo: o.errno ?? 0 }, parts, o.fds);
  }

  /** Take in now what the peer has already sent (a pong that arrived while this process was busy). */
  poll(): void {
    this.#transport.poll();
  }

  close(reason?: UmdevError): void {
    this.#transport.close(reason);
  }
}
