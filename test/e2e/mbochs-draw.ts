/**
 * A vfio-user client that draws on an mbochs device as a guest would: it sets a mode through the DISPI registers
 * (REGION_WRITEs to BAR2) and writes pixels through its mapping of the video memory (BAR0's memfd). Closed, and
 * its mapping and fd released, in `t.after`.
 */
import type { TestContext } from 'node:test';
import { DISPI } from '../../src/drivers/mbochs/dispi.js';
import { MMIO } from '../../src/drivers/mbochs/spec.js';
import { native } from '../../src/native/index.js';
import { VFIO_PCI_REGION as R } from '../../src/vfio/constants.js';
import { VfioUserClient } from '../../src/vfio-user/client.js';

/** An RGB colour. */
export type Rgb = readonly [number, number, number];

export interface Drawer {
  readonly width: number;
  readonly height: number;
  /** Set another mode (the mapping covers the first 4 MiB of video memory). */
  mode(width: number, height: number): Promise<void>;
  /** Paint every pixel with `colour(x, y)`. */
  paint(colour: (x: number, y: number) => Rgb): void;
  readonly client: VfioUserClient;
}

/** Connects to `socket` and sets `width`×`height` at 32 bpp. */
export async function drawOn(t: TestContext, socket: string, width: number, height: number): Promise<Drawer> {
  const client = await VfioUserClient.connect(socket);
  t.after(() => client.close());
  const info = await client.regionInfo(R.BAR0);
  if (info.fd === undefined) throw new Error('BAR0 came without its memfd');
  const fd = info.fd;
  t.after(() => native.close(fd));
  const size = 4 * 1024 * 1024;
  const vram = new Uint8Array(native.mmap(fd, info.offset, size, true));
  t.after(() => native.munmap(vram.buffer as ArrayBuffer));
  const reg = async (index: number, value: number): Promise<void> => {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(value);
    await client.write(R.BAR2, BigInt(MMIO.DISPI.offset + index * 2), b);
  };
  const mode = async (w: number, h: number): Promise<void> => {
    await reg(DISPI.ENABLE, 0);
    await reg(DISPI.BPP, 32);
    await reg(DISPI.XRES, w);
    await reg(DISPI.YRES, h);
    await reg(DISPI.VIRT_WIDTH, w);
    await reg(DISPI.ENABLE, DISPI.ENABLED | DISPI.LFB_ENABLED);
  };
  await mode(width, height);
  const d = {
    width,
    height,
    client,
    async mode(w: number, h: number): Promise<void> {
      await mode(w, h);
      d.width = w;
      d.height = h;
    },
    paint(colour: (x: number, y: number) => Rgb): void {
      for (let y = 0; y < d.height; y++) {
        for (let x = 0; x < d.width; x++) {
          const [r, g, b] = colour(x, y);
          // xrgb8888 in memory: B, G, R, X.
          vram.set([b, g, r, 0], (y * d.width + x) * 4);
        }
      }
    },
  };
  return d;
}
