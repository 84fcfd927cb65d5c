import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import { UmdevError } from '../../src/errors.js';
import { type DisplayPlane, toRgb } from '../../src/display/plane.js';
import { decodePng, encodePng } from '../../src/display/png.js';

const isEinval = (e: unknown): boolean => e instanceof UmdevError && e.errno === 'EINVAL';

/** A known framebuffer: every pixel's colour is a function of its position. */
function pattern(w: number, h: number): Buffer {
  const rgb = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) rgb.set([(x * 7) & 0xff, (y * 13) & 0xff, (x ^ y) & 0xff], (y * w + x) * 3);
  return rgb;
}

test('encode then decode gives back every pixel', () => {
  for (const [w, h] of [[1, 1], [64, 64], [800, 600], [7, 3]] as const) {
    const rgb = pattern(w, h);
    const png = encodePng({ width: w, height: h, rgb });
    const back = decodePng(png);
    assert.deepEqual([back.width, back.height], [w, h]);
    assert.ok(back.rgb.equals(rgb), `${w}x${h}`);
  }
});

test('the decoder reads every row filter and RGBA (as other encoders write them)', () => {
  const w = 5;
  const h = 5;
  const rgba = Buffer.alloc(w * h * 4);
  for (let i = 0; i < w * h; i++) rgba.set([i * 3, 255 - i, i * 9, 128], i * 4);
  // Filter each row with filter type y (0..4) by hand, as the PNG spec defines them.
  const row = w * 4;
  const raw = Buffer.alloc((row + 1) * h);
  for (let y = 0; y < h; y++) {
    raw[y * (row + 1)] = y;
    for (let x = 0; x < row; x++) {
      const cur = rgba[y * row + x]!;
      const a = x >= 4 ? rgba[y * row + x - 4]! : 0;
      const b = y > 0 ? rgba[(y - 1) * row + x]! : 0;
      const c = x >= 4 && y > 0 ? rgba[(y - 1) * row + x - 4]! : 0;
      const p = a + b - c;
      const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
      const pred = [0, a, b, (a + b) >> 1, paeth][y]!;
      raw[y * (row + 1) + 1 + x] = (cur - pred) & 0xff;
    }
  }
  const png = encodePng({ width: 1, height: 1, rgb: Buffer.alloc(3) });
  // Re-use the encoder's framing: swap in an RGBA IHDR and this IDAT.
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 6;
  const chunk = (type: string, data: Buffer): Buffer => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length);
    head.write(type, 4, 'latin1');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])));
    return Buffer.concat([head, data, crc]);
  };
  const made = Buffer.concat([png.subarray(0, 8), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
  const img = decodePng(made);
  for (let i = 0; i < w * h; i++) assert.deepEqual([...img.rgb.subarray(i * 3, i * 3 + 3)], [...rgba.subarray(i * 4, i * 4 + 3)], `pixel ${i}`);
});

function crc32(b: Buffer): number {
  let c = 0xffffffff;
  for (const v of b) {
    c ^= v;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

test('damaged files are EINVAL, never a wrong picture', () => {
  const png = encodePng({ width: 4, height: 4, rgb: pattern(4, 4) });
  assert.throws(() => decodePng(png.subarray(1)), isEinval);
  assert.throws(() => decodePng(png.subarray(0, png.length - 5)), isEinval);
  const flipped = Buffer.from(png);
  flipped[40] ^= 1; // inside IDAT: the CRC no longer matches
  assert.throws(() => decodePng(flipped), isEinval);
  assert.throws(() => encodePng({ width: 4, height: 4, rgb: Buffer.alloc(3) }), isEinval);
  assert.throws(() => encodePng({ width: 0, height: 4, rgb: Buffer.alloc(0) }), isEinval);
});

test('planes convert to RGB: xrgb8888, rgb888 and rgb565 with stride padding', () => {
  const plane = (format: DisplayPlane['format'], stride: number, bytes: number[]): DisplayPlane => ({ format, width: 2, height: 2, stride, pixels: Uint8Array.from(bytes) });
  // Two rows of two pixels, 2 bytes of padding per row.
  const x = toRgb(plane('xrgb8888', 10, [3, 2, 1, 0, 6, 5, 4, 0, 9, 9, 30, 20, 10, 0, 60, 50, 40, 0]));
  assert.deepEqual([...x], [1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 50, 60]);
  const r = toRgb(plane('rgb888', 6, [3, 2, 1, 6, 5, 4, 30, 20, 10, 60, 50, 40]));
  assert.deepEqual([...r], [1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 50, 60]);
  // 0xf800 red, 0x07e0 green, 0x001f blue, 0xffff white: full intensity stays 255.
  const s = toRgb(plane('rgb565', 4, [0x00, 0xf8, 0xe0, 0x07, 0x1f, 0x00, 0xff, 0xff]));
  assert.deepEqual([...s], [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]);
  assert.throws(() => toRgb(plane('xrgb8888', 8, [1, 2, 3])), isEinval);
  assert.throws(() => toRgb(plane('xrgb8888', 4, new Array(16).fill(0))), isEinval, 'stride below a row');
});
