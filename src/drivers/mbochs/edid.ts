/**
 * Concepts: the EDID block an mbochs device shows bochs-drm at BAR2 0x000 (`bochs_hw_read_edid` checks the 8-byte
 * header, then reads 128-byte blocks). One EDID 1.4 base block (VESA E-EDID Release A, Rev. 2), no extensions,
 * built from a type's maximum resolution: a digital sRGB display whose first detailed timing, the preferred mode,
 * is that resolution at 60 Hz with CVT reduced blanking (VESA CVT 1.2), then a range-limits descriptor and the
 * monitor name. The sample leaves the blob to the VMM (its EDID region); here the device carries its own, so a
 * guest sees the type's limit whatever the VMM supports.
 */
import { err } from '../../sdk/index.js';

export const EDID_BLOCK = 128;
const HEADER = [0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00];

/** A mode with the blanking of CVT reduced blanking: what the detailed timing descriptor encodes. */
export interface Timing {
  readonly hActive: number;
  readonly vActive: number;
  readonly hFront: number;
  readonly hSync: number;
  readonly hBlank: number;
  readonly vFront: number;
  readonly vSync: number;
  readonly vBlank: number;
  /** kHz, a multiple of 250 (CVT's clock step). */
  readonly pixelClockKHz: number;
}

/** CVT-RB (version 1) timing for `w`×`h` at 60 Hz. */
export function cvtReducedBlanking(w: number, h: number): Timing {
  const refresh = 60;
  const minVBlankUs = 460;
  const hBlank = 160;
  const vFront = 3;
  const minVBackPorch = 6;
  const vSync = vSyncWidth(w, h);
  const hPeriodUs = (1_000_000 / refresh - minVBlankUs) / h;
  const vBlank = Math.max(Math.floor(minVBlankUs / hPeriodUs) + 1, vFront + vSync + minVBackPorch);
  const totalPixels = (w + hBlank) * (h + vBlank);
  const pixelClockKHz = Math.floor((refresh * totalPixels) / 1000 / 250) * 250;
  return { hActive: w, vActive: h, hFront: 48, hSync: 32, hBlank, vFront, vSync, vBlank, pixelClockKHz };
}

/** CVT's vertical sync width names the aspect ratio: 4 for 4:3, 5 for 16:9, 6 for 16:10, 7 for 5:4 and 15:9, else 10. */
function vSyncWidth(w: number, h: number): number {
  const is = (a: number, b: number): boolean => w * b === h * a;
  if (is(4, 3)) return 4;
  if (is(16, 9)) return 5;
  if (is(16, 10)) return 6;
  if (is(5, 4) || is(15, 9)) return 7;
  return 10;
}

/** Screen size in millimetres at 96 dots per inch. */
function mm(pixels: number): number {
  return Math.round((pixels * 25.4) / 96);
}

/** sRGB primaries and D65 white as EDID's 10-bit binary fractions. */
const CHROMA: readonly (readonly [number, number])[] = [
  [0.64, 0.33],
  [0.3, 0.6],
  [0.15, 0.06],
  [0.3127, 0.329],
];

/** The 128-byte EDID block for a display whose largest (and preferred) mode is `w`×`h`. EINVAL for a mode EDID cannot hold. */
export function buildEdid(w: number, h: number, name = 'umdev mbochs'): Buffer {
  if (!Number.isInteger(w) || !Number.isInteger(h) || w < 64 || h < 64 || w > 4095 || h > 4095) throw err('EINVAL', `EDID cannot describe ${w}x${h}`);
  const b = Buffer.alloc(EDID_BLOCK);
  b.set(HEADER, 0);
  // Manufacturer "UMD" (three 5-bit letters, big-endian), product 0x0001, no serial number.
  const letter = (c: string): number => c.charCodeAt(0) - 64;
  b.writeUInt16BE((letter('U') << 10) | (letter('M') << 5) | letter('D'), 8);
  b.writeUInt16LE(0x0001, 10);
  b[16] = 0xff; // week 0xff: the year byte is the model year
  b[17] = 2025 - 1990;
  b[18] = 1; // EDID 1.4
  b[19] = 4;
  b[20] = 0xa5; // digital input, 8 bits per colour, DisplayPort
  b[21] = Math.min(255, Math.round(mm(w) / 10)); // cm
  b[22] = Math.min(255, Math.round(mm(h) / 10));
  b[23] = 120; // gamma 2.2: (2.2 × 100) − 100
  b[24] = 0x06; // sRGB default colour space, preferred timing is the native mode; RGB 4:4:4
  chromaticity(b);
  establishedTimings(b, w, h);
  for (let i = 38; i < 54; i += 2) b.writeUInt16BE(0x0101, i); // standard timings unused
  const t = cvtReducedBlanking(w, h);
  detailedTiming(b, 54, t, mm(w), mm(h));
  rangeLimits(b, 72, t);
  text(b, 90, 0xfc, name);
  b.set([0, 0, 0, 0x10, 0], 108); // dummy descriptor
  b[126] = 0; // no extension blocks
  b[127] = (256 - (sum(b.subarray(0, 127)) % 256)) % 256;
  return b;
}

function sum(bytes: Uint8Array): number {
  let s = 0;
  for (const v of bytes) s += v;
  return s;
}

function chromaticity(b: Buffer): void {
  const ten = CHROMA.map(([x, y]) => [Math.round(x * 1024), Math.round(y * 1024)] as const);
  const lo = (i: number): number => ((ten[i]![0] & 3) << 2) | (ten[i]![1] & 3);
  b[25] = (lo(0) << 4) | lo(1);
  b[26] = (lo(2) << 4) | lo(3);
  ten.forEach(([x, y], i) => {
    b[27 + 2 * i] = x >>> 2;
    b[28 + 2 * i] = y >>> 2;
  });
}

/** The VESA established modes at 60 Hz that fit: 640×480 (byte 35 bit 5), 800×600 (35.0), 1024×768 (36.3). */
function establishedTimings(b: Buffer, w: number, h: number): void {
  if (w >= 640 && h >= 480) b[35]! |= 0x20;
  if (w >= 800 && h >= 600) b[35]! |= 0x01;
  if (w >= 1024 && h >= 768) b[36]! |= 0x08;
}

/** An 18-byte detailed timing descriptor (preferred mode), sync digital separate, +hsync −vsync as CVT-RB. */
function detailedTiming(b: Buffer, at: number, t: Timing, wMm: number, hMm: number): void {
  b.writeUInt16LE(t.pixelClockKHz / 10, at);
  b[at + 2] = t.hActive & 0xff;
  b[at + 3] = t.hBlank & 0xff;
  b[at + 4] = ((t.hActive >>> 8) << 4) | (t.hBlank >>> 8);
  b[at + 5] = t.vActive & 0xff;
  b[at + 6] = t.vBlank & 0xff;
  b[at + 7] = ((t.vActive >>> 8) << 4) | (t.vBlank >>> 8);
  b[at + 8] = t.hFront & 0xff;
  b[at + 9] = t.hSync & 0xff;
  b[at + 10] = ((t.vFront & 0xf) << 4) | (t.vSync & 0xf);
  b[at + 11] = ((t.hFront >>> 8) << 6) | ((t.hSync >>> 8) << 4) | ((t.vFront >>> 4) << 2) | (t.vSync >>> 4);
  b[at + 12] = wMm & 0xff;
  b[at + 13] = hMm & 0xff;
  b[at + 14] = ((wMm >>> 8) << 4) | (hMm >>> 8);
  b[at + 17] = 0x1a;
}

/**
 * Display range limits (tag 0xfd), range only: 50–70 Hz, lines from 30 kHz (the established modes) to the preferred
 * mode's rate, pixel clock up to the preferred mode's, rounded up to 10 MHz.
 */
function rangeLimits(b: Buffer, at: number, t: Timing): void {
  const lineKHz = t.pixelClockKHz / (t.hActive + t.hBlank);
  b.set([0, 0, 0, 0xfd, 0, 50, 70, Math.min(30, Math.floor(lineKHz)), Math.min(255, Math.ceil(lineKHz)), Math.ceil(t.pixelClockKHz / 10_000), 0x01], at);
  b.set([0x0a, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20], at + 11);
}

/** A text descriptor: up to 13 characters, ended by a newline and padded with spaces. */
function text(b: Buffer, at: number, tag: number, s: string): void {
  b.set([0, 0, 0, tag, 0], at);
  const body = Buffer.alloc(13, 0x20);
  const t = s.slice(0, 13);
  body.write(t, 0, 'latin1');
  if (t.length < 13) body[t.length] = 0x0a;
  b.set(body, at + 5);
}
