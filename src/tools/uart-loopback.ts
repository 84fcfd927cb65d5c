/**
 * Concepts: drive one mtty UART over vfio-user as a guest driver would: program 8N1 with the FIFO on, put the port in
 * loopback (MCR.LOOP), write bytes to THR and read them back from RBR while LSR says data is ready. The mtty port
 * loops every byte back through its 16-byte FIFO; like the 8250 driver, this writes at most a FIFO's worth before
 * draining, so any length comes back byte for byte. An overrun (LSR.OE) would mean lost bytes: it is EIO.
 * Used by `umdev-uart`, the README walkthrough and the end-to-end tests.
 */
import { err } from '../errors.js';
import { MTTY_FIFO_SIZE, UART } from '../drivers/mtty/uart.js';
import { VFIO_PCI_REGION } from '../vfio/constants.js';
import { VfioUserClient } from '../vfio-user/client.js';

/** mtty's PCI vendor (both of its types). */
const MTTY_VENDOR = 0x4348;
/** mtty's BAR0 is port 0. */
const { BAR0, CONFIG } = VFIO_PCI_REGION;
/** 8 data bits, no parity, 1 stop bit (serial_reg.h UART_LCR_WLEN8). */
const LCR_8N1 = 0x03;
const FCR_ENABLE_CLEAR = UART.FCR_ENABLE_FIFO | UART.FCR_CLEAR_RCVR | UART.FCR_CLEAR_XMIT;
const MCR_DTR_RTS_LOOP = UART.MCR_DTR | UART.MCR_RTS | UART.MCR_LOOP;

/** What one loopback run saw. */
export interface LoopbackResult {
  readonly vendorId: number;
  readonly deviceId: number;
  readonly regions: number;
  readonly irqs: number;
  readonly sent: Buffer;
  readonly received: Buffer;
}

/** Connect to `socket`, loop `data` through port 0, hang up. The connection is closed even on failure. */
export async function uartLoopback(socket: string, data: Buffer): Promise<LoopbackResult> {
  const client = await VfioUserClient.connect(socket);
  try {
    const info = await client.deviceInfo();
    const ids = await client.read(CONFIG, 0, 4);
    // Before touching a register: on another device, BAR0 is not a UART and the writes would land on its state.
    if (ids.readUInt16LE(0) !== MTTY_VENDOR) {
      const id = (n: number): string => n.toString(16).padStart(4, '0');
      throw err('EINVAL', `the device is PCI ${id(ids.readUInt16LE(0))}:${id(ids.readUInt16LE(2))}, not an mtty serial card (vendor ${id(MTTY_VENDOR)}): umdev-uart drives mtty devices only`);
    }
    const reg = (offset: number, value: number): Promise<void> => client.write(BAR0, offset, Buffer.from([value]));
    await reg(UART.LCR, LCR_8N1);
    await reg(UART.FCR, FCR_ENABLE_CLEAR);
    await reg(UART.MCR, MCR_DTR_RTS_LOOP);
    const received: Buffer[] = [];
    for (let at = 0; at < data.length; at += MTTY_FIFO_SIZE) {
      for (const byte of data.subarray(at, at + MTTY_FIFO_SIZE)) await reg(UART.TX, byte);
      // Drain what came back before sending more, so the 16-byte FIFO never overruns.
      for (;;) {
        const lsr = (await client.read(BAR0, UART.LSR, 1))[0]!;
        if (lsr & UART.LSR_OE) throw err('EIO', `UART overrun after ${at} bytes: the FIFO lost data`);
        if (!(lsr & UART.LSR_DR)) break;
        received.push(await client.read(BAR0, UART.RX, 1));
      }
    }
    return {
      vendorId: ids.readUInt16LE(0),
      deviceId: ids.readUInt16LE(2),
      regions: info.numRegions,
      irqs: info.numIrqs,
      sent: data,
      received: Buffer.concat(received),
    };
  } finally {
    client.close();
  }
}
