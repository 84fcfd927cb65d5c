/**
 * Concepts: what a device sent on its serial line, for a console view. A device with a UART keeps a `ByteRing` as
 * its `uartTap` and pushes every byte its guest transmits; the ring keeps the last `capacity` bytes and counts
 * every byte ever pushed, so a reader asks for what came after position N and learns how many it missed when it
 * fell behind. Memory is bounded whatever the guest writes. The ring lives with the device's model (umdevd for a
 * device served in-process, else its device host, which answers reads of it through its RPC).
 */

/** A read of the ring: `data` holds the bytes from position `start` to `end`; `lost` were pushed out before they were read. Plain data. */
export interface UartOutput {
  readonly start: number;
  readonly end: number;
  readonly lost: number;
  readonly data: Buffer;
}

/** Default capacity: a few screens of console text. */
export const UART_TAP_BYTES = 16 * 1024;

/** Owned by the device's model; `push` costs one array write per byte. */
export class ByteRing {
  readonly #buf: Uint8Array;
  /** Bytes ever pushed. */
  #end = 0;

  constructor(capacity = UART_TAP_BYTES) {
    if (!Number.isInteger(capacity) || capacity <= 0) throw new RangeError(`ring of ${capacity} bytes`);
    this.#buf = new Uint8Array(capacity);
  }

  get capacity(): number {
    return this.#buf.length;
  }

  /** Position after the last byte pushed. */
  get end(): number {
    return this.#end;
  }

  push(byte: number): void {
    this.#buf[this.#end % this.#buf.length] = byte;
    this.#end++;
  }

  /** What came after `since` (default: everything still held); a `since` past the end reads nothing from the end. */
  read(since = 0): UartOutput {
    const cap = this.#buf.length;
    const oldest = Math.max(0, this.#end - cap);
    const want = Math.min(Math.max(0, Math.floor(since)), this.#end);
    const start = Math.max(want, oldest);
    const data = Buffer.alloc(this.#end - start);
    for (let p = start, i = 0; p < this.#end; p++, i++) data[i] = this.#buf[p % cap]!;
    return { start, end: this.#end, lost: start - want, data };
  }
}

/** The UART tap of a model that keeps one (`uartTap`), else undefined. */
export function uartTapOf(model: unknown): ByteRing | undefined {
  const t = typeof model === 'object' && model !== null ? (model as { uartTap?: unknown }).uartTap : undefined;
  return t instanceof ByteRing ? t : undefined;
}
