/**
 * Concepts: PNG (ISO/IEC 15948) with `node:zlib` and nothing else. `encodePng` writes 8-bit truecolour (colour type
 * 2), every row with filter 0, one IDAT. `decodePng` reads what screenshots need to be checked: 8-bit greyscale,
 * truecolour and truecolour with alpha, non-interlaced, all five row filters; it checks signature, chunk CRCs and
 * sizes, so a damaged file is an `EINVAL`, never a wrong picture.
 */
import { crc32, deflateSync, inflateSync } from 'node:zlib';
import { err } from '../errors.js';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Largest image either direction handles (as `toRgb`): 8192×8192. */
const MAX_PIXELS = 8192 * 8192;

/** A decoded image: `height` rows of `width` × 3 bytes (R, G, B). */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  readonly rgb: Buffer;
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

/** A PNG of `width` × `height` pixels from packed RGB rows. */
export function encodePng(img: RgbImage, level = 6): Buffer {
  const { width, height, rgb } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0 || width * height > MAX_PIXELS) {
    throw err('EINVAL', `PNG of ${width}x${height} pixels`);
  }
  const row = width * 3;
  if (rgb.length !== row * height) throw err('EINVAL', `${rgb.length} bytes of RGB for ${width}x${height}`);
  const raw = Buffer.alloc((row + 1) * height);
  for (let y = 0; y < height; y++) rgb.copy(raw, y * (row + 1) + 1, y * row, (y + 1) * row);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // truecolour
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw, { level })), chunk('IEND', Buffer.alloc(0))]);
}

const CHANNELS: Readonly<Record<number, number>> = { 0: 1, 2: 3, 6: 4 };

/** Decode a PNG to RGB (alpha dropped, grey widened); EINVAL for anything damaged or outside the subset above. */
export function decodePng(png: Buffer): RgbImage {
  if (png.length < SIGNATURE.length || !png.subarray(0, 8).equals(SIGNATURE)) throw err('EINVAL', 'not a PNG: bad signature');
  let at = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  let ended = false;
  while (!ended) {
    if (at + 12 > png.length) throw err('EINVAL', 'PNG ends inside a chunk');
    const len = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    if (at + 12 + len > png.length) throw err('EINVAL', `PNG chunk ${type} runs past the end`);
    const data = png.subarray(at + 8, at + 8 + len);
    if ((crc32(png.subarray(at + 4, at + 8 + len)) >>> 0) !== png.readUInt32BE(at + 8 + len)) throw err('EINVAL', `PNG chunk ${type} has a bad CRC`);
    if (type === 'IHDR') {
      if (len !== 13) throw err('EINVAL', 'PNG IHDR is not 13 bytes');
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      channels = CHANNELS[data[9]!] ?? 0;
      if (data[8] !== 8 || channels === 0 || data[12] !== 0) throw err('EINVAL', `PNG depth ${data[8]}, colour type ${data[9]}, interlace ${data[12]}: only 8-bit grey, RGB or RGBA, not interlaced`);
      if (width === 0 || height === 0 || width * height > MAX_PIXELS) throw err('EINVAL', `PNG of ${width}x${height} pixels`);
    } else if (type === 'IDAT') {
      idat.push(data);
    } else if (type === 'IEND') {
      ended = true;
    }
    at += 12 + len;
  }
  if (channels === 0) throw err('EINVAL', 'PNG has no IHDR');
  const bpp = channels;
  const row = width * bpp;
  let raw: Buffer;
  try {
    raw = inflateSync(Buffer.concat(idat), { maxOutputLength: (row + 1) * height });
  } catch (e) {
    throw err('EINVAL', `PNG image data does not inflate: ${(e as Error).message}`);
  }
  if (raw.length !== (row + 1) * height) throw err('EINVAL', `PNG image data is ${raw.length} bytes, expected ${(row + 1) * height}`);
  const pixels = unfilter(raw, row, height, bpp);
  const rgb = Buffer.alloc(width * height * 3);
  for (let i = 0, o = 0; i < pixels.length; i += bpp) {
    rgb[o++] = pixels[i]!;
    rgb[o++] = pixels[i + (channels >= 3 ? 1 : 0)]!;
    rgb[o++] = pixels[i + (channels >= 3 ? 2 : 0)]!;
  }
  return { width, height, rgb };
}

/** Undo the per-row filters (None, Sub, Up, Average, Paeth). */
function unfilter(raw: Buffer, row: number, height: number, bpp: number): Buffer {
  const out = Buffer.alloc(row * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (row + 1)]!;
    const src = y * (row + 1) + 1;
    const dst = y * row;
    for (let x = 0; x < row; x++) {
      const a = x >= bpp ? out[dst + x - bpp]! : 0;
      const b = y > 0 ? out[dst - row + x]! : 0;
      const c = x >= bpp && y > 0 ? out[dst - row + x - bpp]! : 0;
      let predictor: number;
      if (filter === 0) predictor = 0;
      else if (filter === 1) predictor = a;
      else if (filter === 2) predictor = b;
      else if (filter === 3) predictor = (a + b) >>> 1;
      else if (filter === 4) predictor = paeth(a, b, c);
      else throw err('EINVAL', `PNG row ${y} has filter ${filter}`);
      out[dst + x] = (raw[src + x]! + predictor) & 0xff;
    }
  }
  return out;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}
