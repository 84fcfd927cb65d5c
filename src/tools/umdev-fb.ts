#!/usr/bin/env node
/**
 * `umdev-fb [--state-dir DIR] UUID|SOCKET`: show a test pattern on an mbochs device without a guest, so its screen
 * (`umdevctl screenshot`, `GET /devices/<uuid>/screen.png`, the dashboard) can be seen. It does over vfio-user what
 * a guest's bochs-drm does first: reads the EDID for the preferred mode, maps video memory (BAR0, through the fd the
 * region info carries), draws colour bars inside a white frame, sets the mode through the DISPI registers (BAR2),
 * and then holds the device open until SIGINT or SIGTERM, since video memory lives only while a client has it open.
 */
import { DISPI } from '../drivers/mbochs/dispi.js';
import { MMIO } from '../drivers/mbochs/spec.js';
import { err, toUmdevError } from '../errors.js';
import { native } from '../native/index.js';
import { VFIO_PCI_REGION as R } from '../vfio/constants.js';
import { VfioUserClient } from '../vfio-user/client.js';
import { deviceSocket, toolArgs } from './device-arg.js';

const USAGE = `usage: umdev-fb [--state-dir DIR] UUID|SOCKET
  Draws colour bars on an mbochs device at its preferred mode and holds the device until Ctrl-C: the device's
  UUID (its socket is found in umdevd's state dir: --state-dir, UMDEV_STATE, ./umdev-state if a umdevd holds it,
  else /var/lib/umdev), or its vfio-user socket (DIR/run/<uuid>.sock).
`;

/** bochs-drm's PCI identity: what mbochs presents. */
const MBOCHS = { vendor: 0x1234, device: 0x1111 };
/** SMPTE-like bars, XRGB8888 as 0xRRGGBB: white, yellow, cyan, green, magenta, red, blue, black. */
const BARS = [0xffffff, 0xffff00, 0x00ffff, 0x00ff00, 0xff00ff, 0xff0000, 0x0000ff, 0x000000];
const FRAME = 4;

/** The preferred mode of an EDID base block (its first detailed timing), or undefined without a valid EDID. */
function preferredMode(edid: Buffer): { width: number; height: number } | undefined {
  if (!edid.subarray(0, 8).equals(Buffer.from([0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0]))) return undefined;
  const d = edid.subarray(54, 72);
  if (d.readUInt16LE(0) === 0) return undefined;
  return { width: d[2]! | ((d[4]! & 0xf0) << 4), height: d[5]! | ((d[7]! & 0xf0) << 4) };
}

/** Colour bars inside a white frame, `width`×`height` XRGB8888 pixels, `stride` bytes per line. */
function drawBars(fb: Uint8Array, width: number, height: number, stride: number): void {
  const px = new DataView(fb.buffer, fb.byteOffset, fb.byteLength);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const frame = x < FRAME || y < FRAME || x >= width - FRAME || y >= height - FRAME;
      px.setUint32(y * stride + x * 4, frame ? 0xffffff : BARS[Math.floor((x * BARS.length) / width)]!, true);
    }
  }
}

async function show(client: VfioUserClient): Promise<string> {
  const ids = await client.read(R.CONFIG, 0, 4);
  if (ids.readUInt16LE(0) !== MBOCHS.vendor || ids.readUInt16LE(2) !== MBOCHS.device) {
    const id = (n: number): string => n.toString(16).padStart(4, '0');
    throw err('EINVAL', `the device is PCI ${id(ids.readUInt16LE(0))}:${id(ids.readUInt16LE(2))}, not an mbochs display (1234:1111): umdev-fb draws on mbochs devices only`);
  }
  const info = await client.regionInfo(R.BAR0);
  if (info.fd === undefined) throw err('EIO', 'BAR0 came without its video memory fd');
  const size = Number(info.size);
  const edid = await client.read(R.BAR2, BigInt(MMIO.EDID.offset), 128);
  const preferred = preferredMode(edid);
  // Without an EDID (mbochs-large), bochs-drm's own default.
  let mode = preferred ?? { width: 1024, height: 768 };
  if (mode.width * mode.height * 4 > size) mode = { width: 640, height: 480 };
  const vram = new Uint8Array(native.mmap(info.fd, Number(info.offset), size, true));
  native.close(info.fd);
  drawBars(vram, mode.width, mode.height, mode.width * 4);
  const reg = async (index: number, value: number): Promise<void> => {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(value);
    await client.write(R.BAR2, BigInt(MMIO.DISPI.offset + index * 2), b);
  };
  // bochs_hw_setmode's order: off, geometry, offsets, on.
  await reg(DISPI.ENABLE, 0);
  await reg(DISPI.BPP, 32);
  await reg(DISPI.XRES, mode.width);
  await reg(DISPI.YRES, mode.height);
  await reg(DISPI.VIRT_WIDTH, mode.width);
  await reg(DISPI.VIRT_HEIGHT, mode.height);
  await reg(DISPI.X_OFFSET, 0);
  await reg(DISPI.Y_OFFSET, 0);
  await reg(DISPI.ENABLE, DISPI.ENABLED | DISPI.LFB_ENABLED);
  return `mode ${mode.width}x${mode.height}x32 (${preferred === undefined ? 'no EDID: the default' : "the EDID's preferred timing"}), video memory ${size >> 20} MiB`;
}

async function main(argv: readonly string[]): Promise<number> {
  const args = toolArgs('umdev-fb', USAGE, argv, { min: 1, max: 1 });
  if (typeof args === 'number') return args;
  const device = args.words[0]!;
  let client: VfioUserClient | undefined;
  try {
    const socket = await deviceSocket(device, args.stateDir, process.env);
    client = await VfioUserClient.connect(socket.path);
    process.stdout.write(`connected to ${socket.shown}\n`);
    process.stdout.write(`${await show(client)}: colour bars drawn; holding the device, Ctrl-C to stop\n`);
    const c = client;
    return await new Promise<number>((resolve) => {
      process.once('SIGINT', () => resolve(0));
      process.once('SIGTERM', () => resolve(0));
      void c.whenClosed().then(() => {
        process.stderr.write('umdev-fb: the device went away (removed, or umdevd stopped)\n');
        resolve(1);
      });
    });
  } catch (e) {
    const u = toUmdevError(e);
    process.stderr.write(`umdev-fb: ${device}: ${u.message.includes(u.errno) ? u.message : `${u.message} (${u.errno})`}\n`);
    return 1;
  } finally {
    client?.close();
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code));
