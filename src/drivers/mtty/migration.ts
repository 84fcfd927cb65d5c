/**
 * Concepts: the mtty sample's migration stream (`struct mtty_data` in samples/vfio-mdev/mtty.c, copied verbatim,
 * little-endian as on x86-64): a 24-byte header {u64 magic, u32 major, u32 minor, u32 nr_ports, u32 flags} then one
 * 36-byte `struct serial_port` per port. 60 bytes for one port, 96 for two.
 */
import { err } from '../../sdk/index.js';
import { SERIAL_PORT_STATE_SIZE, UartPort } from './uart.js';

export const MTTY_MAGIC = 0x7e9d09898c3e2c4en;
export const MTTY_MAJOR_VER = 1;
export const MTTY_MINOR_VER = 0;
/** `offsetof(struct mtty_data, ports)`. */
export const MTTY_HEADER_SIZE = 24;

/** `mtty_data_size()`: the stream length for a device with `nrPorts` ports. */
export function mttyDataSize(nrPorts: number): number {
  return MTTY_HEADER_SIZE + nrPorts * SERIAL_PORT_STATE_SIZE;
}

/** Serialise the ports (the stream a STOP_COPY read would produce). The caller owns the buffer. */
export function saveMtty(ports: readonly UartPort[]): Buffer {
  const out = Buffer.alloc(mttyDataSize(ports.length));
  out.writeBigUInt64LE(MTTY_MAGIC, 0);
  out.writeUInt32LE(MTTY_MAJOR_VER, 8);
  out.writeUInt32LE(MTTY_MINOR_VER, 12);
  out.writeUInt32LE(ports.length, 16);
  out.writeUInt32LE(0, 20);
  ports.forEach((p, i) => out.set(p.save(), MTTY_HEADER_SIZE + i * SERIAL_PORT_STATE_SIZE));
  return out;
}

/**
 * Load a stream into `ports`, all or nothing. EINVAL for a wrong size, magic, version, non-zero flags, a port count
 * other than `ports.length` (as the sample's resume-header check), or port fields outside the FIFO.
 */
export function restoreMtty(ports: readonly UartPort[], stream: Uint8Array): void {
  const b = Buffer.from(stream.buffer, stream.byteOffset, stream.byteLength);
  const want = mttyDataSize(ports.length);
  if (b.length !== want) throw err('EINVAL', `mtty migration stream is ${b.length} bytes, expected ${want}`);
  if (b.readBigUInt64LE(0) !== MTTY_MAGIC) throw err('EINVAL', 'mtty migration stream has a bad magic');
  const major = b.readUInt32LE(8);
  const minor = b.readUInt32LE(12);
  if (major !== MTTY_MAJOR_VER || minor !== MTTY_MINOR_VER) throw err('EINVAL', `mtty migration stream version ${major}.${minor}, expected 1.0`);
  const nr = b.readUInt32LE(16);
  if (nr !== ports.length) throw err('EINVAL', `mtty migration stream has ${nr} ports, this device has ${ports.length}`);
  if (b.readUInt32LE(20) !== 0) throw err('EINVAL', 'mtty migration stream has non-zero flags');
  const slices = ports.map((_, i) => b.subarray(MTTY_HEADER_SIZE + i * SERIAL_PORT_STATE_SIZE, MTTY_HEADER_SIZE + (i + 1) * SERIAL_PORT_STATE_SIZE));
  // Validate every port on a scratch copy first so a bad second port leaves the first untouched.
  for (const s of slices) new UartPort(() => undefined).load(s);
  ports.forEach((p, i) => p.load(slices[i]!));
}
