/**
 * Concepts: a device's screen as a PNG, made where the device's state lives: its instance (a device host for a
 * device served by one; umdevd itself never makes one then). A device without a display is EOPNOTSUPP; one whose
 * display shows nothing is the EBUSY `queryPlane` gave, with its reason.
 *
 * Making a frame must not hold up the device's client, whose requests the same event loop answers: rows are
 * converted a quarter of a millisecond at a time with the loop free in between, and deflated on the thread pool. It
 * is bounded in pixels (`MAX_SCREEN_PIXELS`) and in time.
 */
import { crc32, deflate } from 'node:zlib';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { err } from '../errors.js';
import { type DisplaySource, toRgb } from './plane.js';

/** Largest PNG a screenshot may be (the largest plane, incompressible, with PNG's row bytes). */
export const MAX_SCREEN_PNG = 64 * 1024 * 1024;
/** Most pixels a screenshot converts: 5120×3200 and anything smaller. */
export const MAX_SCREEN_PIXELS = 5120 * 3200;
/** Rows converted at a time, and how long the loop is held at most before others get their turn. */
const BAND_ROWS = 8;
const SLICE_MS = 0.25;

const deflateAsync = promisify(deflate);
const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(data, crc32(head.subarray(4))) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * The current screen of a device's display as PNG bytes, made without holding the event loop; EOPNOTSUPP for a
 * device without a display, ETIMEDOUT past `timeoutMs`.
 */
export async function screenPng(display: DisplaySource | undefined, timeoutMs = 5000): Promise<Buffer> {
  if (display === undefined) throw err('EOPNOTSUPP', 'the device has no display');
  const model = display;
  const deadline = Date.now() + timeoutMs;
  const first = model.queryPlane();
  const { width, height } = first;
  if (width * height > MAX_SCREEN_PIXELS) throw err('E2BIG', `a ${width}x${height} screen is over ${MAX_SCREEN_PIXELS} pixels`);
  const row = width * 3;
  const raw = Buffer.alloc((row + 1) * height);
  for (let y = 0; y < height; ) {
    // The plane is asked again after every pause: the device may have changed or dropped its memory meanwhile
    // (the frame is then refused, or shows the new pixels from here on, as a scanout would).
    const plane = y === 0 ? first : model.queryPlane();
    if (plane.width !== width || plane.height !== height) throw err('EBUSY', 'the display changed mode during the screenshot');
    const sliceEnd = performance.now() + SLICE_MS;
    while (y < height && performance.now() < sliceEnd) {
      const rows = Math.min(BAND_ROWS, height - y);
      const rgb = toRgb({ ...plane, height: rows, pixels: plane.pixels.subarray(y * plane.stride) });
      for (let r = 0; r < rows; r++) rgb.copy(raw, (y + r) * (row + 1) + 1, r * row, (r + 1) * row);
      y += rows;
    }
    if (Date.now() > deadline) throw err('ETIMEDOUT', `the screenshot took more than ${timeoutMs} ms`);
    if (y < height) await turn();
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // truecolour
  const idat = await deflateAsync(raw, { level: 6 });
  const png = Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
  if (png.length > MAX_SCREEN_PNG) throw err('E2BIG', `the screenshot is ${png.length} bytes, over ${MAX_SCREEN_PNG}`);
  return png;
}
