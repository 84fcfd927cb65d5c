/**
 * Concepts: one port of the mtty sample's 16550A-style UART (samples/vfio-mdev/mtty.c, `handle_bar_read` and
 * `handle_bar_write`), register for register, quirks included:
 *
 * - It is a loopback port: bytes written to THR come back from RBR through a 16-byte FIFO.
 * - Departure from the sample, on purpose: the sample decides "empty" by `head == tail`, so a FIFO holding exactly
 *   16 bytes reads as empty and those bytes are lost; Linux's 8250 driver writes 16 bytes per THRE interrupt, so
 *   every such write would vanish. Here, as on a real 16550A, `count` decides empty and full: 16 bytes fit, a byte
 *   written to a full FIFO is lost alone (the FIFO keeps its contents), sets LSR.OE (raising RLSI when enabled),
 *   and OE clears when the guest reads LSR rather than on the next accepted byte.
 * - IIR ORs the pending sources together instead of priority-encoding them (RLSI 0x06 | RDI 0x04 | THRI 0x02), then
 *   sets 0xC0. The RX trigger level is decoded from FCR and then forced to 1; before any FCR write it is 0, which
 *   makes IIR report RDI whenever RDI is enabled and never raises an RX interrupt.
 * - Writing DLL/DLM ORs into the divisor, which LCR.DLAB clears when it is set.
 *
 * The port is pure state plus a `raise` callback: it knows nothing of eventfds or of the other port.
 */
import { err } from '../../errors.js';

/** Register offsets and bits from include/uapi/linux/serial_reg.h that the sample uses. */
export const UART = {
  RX: 0,
  TX: 0,
  DLL: 0,
  IER: 1,
  DLM: 1,
  IIR: 2,
  FCR: 2,
  LCR: 3,
  MCR: 4,
  LSR: 5,
  MSR: 6,
  SCR: 7,
  IER_RDI: 0x01,
  IER_THRI: 0x02,
  IER_RLSI: 0x04,
  IER_MSI: 0x08,
  IIR_NO_INT: 0x01,
  IIR_MSI: 0x00,
  IIR_THRI: 0x02,
  IIR_RDI: 0x04,
  IIR_RLSI: 0x06,
  FCR_ENABLE_FIFO: 0x01,
  FCR_CLEAR_RCVR: 0x02,
  FCR_CLEAR_XMIT: 0x04,
  FCR_TRIGGER_MASK: 0xc0,
  FCR_TRIGGER_1: 0x00,
  FCR_TRIGGER_4: 0x40,
  FCR_TRIGGER_8: 0x80,
  FCR_TRIGGER_14: 0xc0,
  LCR_DLAB: 0x80,
  MCR_DTR: 0x01,
  MCR_RTS: 0x02,
  MCR_OUT1: 0x04,
  MCR_OUT2: 0x08,
  MCR_LOOP: 0x10,
  MCR_AFE: 0x20,
  LSR_DR: 0x01,
  LSR_OE: 0x02,
  LSR_THRE: 0x20,
  LSR_TEMT: 0x40,
  MSR_DCTS: 0x01,
  MSR_DDSR: 0x02,
  MSR_CTS: 0x10,
  MSR_DSR: 0x20,
  MSR_DCD: 0x80,
} as const;

/** FIFO depth (`MAX_FIFO_SIZE`). */
export const MTTY_FIFO_SIZE = 16;

/** Bytes of one port in the migration stream (`sizeof(struct serial_port)` on x86-64). */
export const SERIAL_PORT_STATE_SIZE = 36;

/** One UART port. Owned by its mtty device; `raise` asks the device to deliver its (shared) interrupt. */
export class UartPort {
  /** `uart_reg[8]`: IER, LCR, MCR and SCR are kept here; the others are unused, as in the sample. */
  readonly regs = new Uint8Array(8);
  readonly fifo = new Uint8Array(MTTY_FIFO_SIZE);
  head = 0;
  tail = 0;
  count = 0;
  dlab = false;
  overrun = false;
  divisor = 0;
  fcr = 0;
  maxFifoSize = MTTY_FIFO_SIZE;
  triggerLevel = 0;
  readonly #raise: () => void;
  readonly #transmitted: ((byte: number) => void) | undefined;

  /** `transmitted` hears every byte the guest sends (a console view of the port); it may not change the port. */
  constructor(raise: () => void, transmitted?: (byte: number) => void) {
    this.#raise = raise;
    this.#transmitted = transmitted;
  }

  #empty(): boolean {
    return this.count === 0;
  }

  /** A byte-wide guest write to register `offset` (0..7). */
  write(offset: number, data: number): void {
    data &= 0xff;
    switch (offset) {
      case UART.TX:
        if (this.dlab) {
          this.divisor = (this.divisor | data) & 0xffff;
          break;
        }
        this.#transmitted?.(data);
        if (this.count < this.maxFifoSize) {
          this.fifo[this.head] = data;
          this.count += 1;
          this.head = (this.head + 1) & (MTTY_FIFO_SIZE - 1);
          if (this.regs[UART.IER]! & UART.IER_RDI && this.count === this.triggerLevel) this.#raise();
        } else {
          this.overrun = true;
          if (this.regs[UART.IER]! & UART.IER_RLSI) this.#raise();
        }
        break;
      case UART.IER:
        if (this.dlab) {
          this.divisor = (this.divisor | (data << 8)) & 0xffff;
          break;
        }
        this.regs[UART.IER] = data;
        if (data & UART.IER_THRI && this.#empty()) this.#raise();
        break;
      case UART.FCR:
        this.fcr = data;
        if (data & (UART.FCR_CLEAR_RCVR | UART.FCR_CLEAR_XMIT)) {
          this.count = 0;
          this.head = 0;
          this.tail = 0;
        }
        // The sample decodes the trigger level from bits 7:6 and then forces it to 1 (it has no RX timeout timer).
        this.triggerLevel = 1;
        this.maxFifoSize = data & UART.FCR_ENABLE_FIFO ? MTTY_FIFO_SIZE : 1;
        break;
      case UART.LCR:
        if (data & UART.LCR_DLAB) {
          this.dlab = true;
          this.divisor = 0;
        } else {
          this.dlab = false;
        }
        this.regs[UART.LCR] = data;
        break;
      case UART.MCR:
        this.regs[UART.MCR] = data;
        if (this.regs[UART.IER]! & UART.IER_MSI && data & UART.MCR_OUT2) this.#raise();
        if (this.regs[UART.IER]! & UART.IER_MSI && data & (UART.MCR_RTS | UART.MCR_DTR)) this.#raise();
        break;
      case UART.LSR:
      case UART.MSR:
        break;
      case UART.SCR:
        this.regs[UART.SCR] = data;
        break;
      default:
        break;
    }
  }

  /**
   * A byte-wide guest read of register `offset` (0..7). `undefined` where the sample leaves the byte unwritten
   * (RBR with an empty FIFO); the device then returns 0.
   */
  read(offset: number): number | undefined {
    switch (offset) {
      case UART.RX: {
        if (this.dlab) return this.divisor & 0xff;
        let value: number | undefined;
        if (!this.#empty()) {
          value = this.fifo[this.tail]!;
          this.count -= 1;
          this.tail = (this.tail + 1) & (MTTY_FIFO_SIZE - 1);
        }
        if (this.#empty() && this.regs[UART.IER]! & UART.IER_THRI) this.#raise();
        return value;
      }
      case UART.IER:
        if (this.dlab) return (this.divisor >>> 8) & 0xff;
        return this.regs[UART.IER]! & 0x0f;
      case UART.IIR: {
        const ier = this.regs[UART.IER]!;
        let iir = 0;
        if (ier & UART.IER_RLSI && this.overrun) iir |= UART.IIR_RLSI;
        if (ier & UART.IER_RDI && this.count >= this.triggerLevel) iir |= UART.IIR_RDI;
        if (ier & UART.IER_THRI && this.#empty()) iir |= UART.IIR_THRI;
        if (ier & UART.IER_MSI && this.regs[UART.MCR]! & (UART.MCR_RTS | UART.MCR_DTR)) iir |= UART.IIR_MSI;
        if (iir === 0) iir = UART.IIR_NO_INT;
        return iir | 0xc0;
      }
      case UART.LCR:
      case UART.MCR:
        return this.regs[offset]!;
      case UART.LSR: {
        let lsr = 0;
        if (!this.#empty()) lsr |= UART.LSR_DR;
        if (this.overrun) lsr |= UART.LSR_OE;
        if (this.#empty()) lsr |= UART.LSR_TEMT | UART.LSR_THRE;
        // A 16550A clears OE (and with it the line-status interrupt) when LSR is read.
        this.overrun = false;
        return lsr;
      }
      case UART.MSR: {
        let msr = UART.MSR_DSR | UART.MSR_DDSR | UART.MSR_DCD;
        if (this.regs[UART.MCR]! & UART.MCR_AFE) {
          if (this.count < this.maxFifoSize) msr |= UART.MSR_CTS | UART.MSR_DCTS;
        } else {
          msr |= UART.MSR_CTS | UART.MSR_DCTS;
        }
        return msr;
      }
      case UART.SCR:
        return this.regs[UART.SCR]!;
      default:
        return undefined;
    }
  }

  /** The port as `struct serial_port` (36 bytes, x86-64 layout, little-endian). */
  save(): Buffer {
    const b = Buffer.alloc(SERIAL_PORT_STATE_SIZE);
    b.set(this.regs, 0);
    b.set(this.fifo, 8);
    b[24] = this.head;
    b[25] = this.tail;
    b[26] = this.count;
    b[27] = this.dlab ? 1 : 0;
    b[28] = this.overrun ? 1 : 0;
    b.writeUInt16LE(this.divisor, 30);
    b[32] = this.fcr;
    b[33] = this.maxFifoSize;
    b[34] = this.triggerLevel;
    return b;
  }

  /**
   * Load a `struct serial_port`. EINVAL for values that would index outside the FIFO; the sample copies blindly,
   * but a bad stream must not corrupt a port here.
   */
  load(b: Uint8Array): void {
    if (b.length !== SERIAL_PORT_STATE_SIZE) throw err('EINVAL', `port state is ${b.length} bytes, expected ${SERIAL_PORT_STATE_SIZE}`);
    const head = b[24]!;
    const tail = b[25]!;
    const count = b[26]!;
    const maxFifo = b[33]!;
    // head, tail and count move together in the sample too, so a stream where they disagree is corrupt.
    if (head >= MTTY_FIFO_SIZE || tail >= MTTY_FIFO_SIZE || count > MTTY_FIFO_SIZE || maxFifo > MTTY_FIFO_SIZE || (tail + count) % MTTY_FIFO_SIZE !== head) {
      throw err('EINVAL', `port state out of range (head ${head}, tail ${tail}, count ${count}, fifo size ${maxFifo})`);
    }
    this.regs.set(b.subarray(0, 8));
    this.fifo.set(b.subarray(8, 24));
    this.head = head;
    this.tail = tail;
    this.count = count;
    this.dlab = b[27] !== 0;
    this.overrun = b[28] !== 0;
    this.divisor = b[30]! | (b[31]! << 8);
    this.fcr = b[32]!;
    this.maxFifoSize = maxFifo;
    this.triggerLevel = b[34]!;
  }
}
