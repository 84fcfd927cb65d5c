/**
 * Concepts: drive one mtty UART over vfio-user as a guest driver would: program 8N1 with the FIFO on, put the port in
 * loopback (MCR.LOOP), write bytes to THR and read them back from RBR while LSR says data is ready. The mtty port
 * loops every byte back (its FIFO is 16 deep), so what comes back must be what went out. Used by `umdev-uart`, the
 * README walkthrough and the end-to-end tests.
 */
import { VfioUserClient } from '../vfio-user/client.js';

/** mtty's region indexes: BAR0 is port 0, the PCI config space is region 7 (VFIO_PCI_CONFIG_REGION_INDEX). */
const BAR0 = 0;
const CONFIG = 7;
/** 16550 register offsets and bits (include/uapi/linux/serial_reg.h). */
const THR = 0;
const FCR = 2;
const LCR = 3;
const MCR = 4;
const LSR = 5;
const LCR_8N1 = 0x03;
const FCR_ENABLE_CLEAR = 0x07;
const MCR_DTR_RTS_LOOP = 0x13;
const LSR_DR = 0x01;
const FIFO_DEPTH = 16;

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
    const reg = (offset: number, value: number): Promise<void> => client.write(BAR0, offset, Buffer.from([value]));
    await reg(LCR, LCR_8N1);
    await reg(FCR, FCR_ENABLE_CLEAR);
    await reg(MCR, MCR_DTR_RTS_LOOP);
    const received: Buffer[] = [];
    for (let at = 0; at < data.length; at += FIFO_DEPTH) {
      for (const byte of data.subarray(at, at + FIFO_DEPTH)) await reg(THR, byte);
      // Drain what came back before sending more, so the 16-byte FIFO never overruns.
      while (((await client.read(BAR0, LSR, 1))[0] & LSR_DR) !== 0) received.push(await client.read(BAR0, THR, 1));
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
