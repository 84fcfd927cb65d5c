/**
 * Concepts: a screen frame from a device model held in this process (a device served in-process, or a device
 * host's own instance). The tag is a CRC-32 of the visible bytes of every row plus the plane's format, size and
 * stride: hashing 2 MiB of video memory costs about a millisecond, while encoding it costs tens, so a frame that
 * did not change is never encoded. Video memory is mapped into the guest, so no write to it can be trapped: looking
 * is the only way to know. A CRC collision would keep one stale frame on screen until the next change; no
 * decision rests on the tag. A changed frame is made by `screenPng`, a slice of rows at a time, so the device's
 * client is never held up by its own screen.
 */
import { crc32 } from 'node:zlib';
import { err } from '../../errors.js';
import { BYTES_PER_PIXEL, type DisplayPlane, isDisplaySource } from '../../display/plane.js';
import { screenPng } from '../../display/screen.js';
import type { FrameOptions, ScreenFrame } from './types.js';

/** Bytes hashed between two turns of the event loop (a few tenths of a millisecond). */
const HASH_SLICE = 512 * 1024;

function checkFits(p: DisplayPlane): number {
  const row = p.width * BYTES_PER_PIXEL[p.format];
  if (p.stride < row || p.stride * (p.height - 1) + row > p.pixels.length) throw err('EINVAL', `a ${p.width}x${p.height} plane with stride ${p.stride} does not fit ${p.pixels.length} bytes`);
  return row;
}

function tagOf(p: DisplayPlane, crc: number): string {
  return `${p.format}-${p.width}x${p.height}-${p.stride}-${(crc >>> 0).toString(16).padStart(8, '0')}`;
}

/** The tag of what `plane` shows now. */
export function planeTag(p: DisplayPlane): string {
  const row = checkFits(p);
  let crc = 0;
  for (let y = 0; y < p.height; y++) crc = crc32(p.pixels.subarray(y * p.stride, y * p.stride + row), crc);
  return tagOf(p, crc);
}

/**
 * `planeTag` of the plane `look()` gives, hashed a slice at a time with the event loop free in between (a 1080p
 * screen is 8 MiB: hashed at once it would hold the device's client up for milliseconds).
 */
async function planeTagSliced(look: () => DisplayPlane): Promise<string> {
  const first = look();
  const row = checkFits(first);
  const rowsPerSlice = Math.max(1, Math.floor(HASH_SLICE / row));
  let crc = 0;
  for (let y = 0; y < first.height; y += rowsPerSlice) {
    // Asked again after each pause: the device may have changed mode or dropped its memory meanwhile.
    const p = y === 0 ? first : look();
    if (p.width !== first.width || p.height !== first.height || p.stride !== first.stride || p.format !== first.format) throw err('EBUSY', 'the display changed mode');
    checkFits(p);
    for (let r = y; r < Math.min(first.height, y + rowsPerSlice); r++) crc = crc32(p.pixels.subarray(r * p.stride, r * p.stride + row), crc);
    if (y + rowsPerSlice < first.height) await new Promise((resolve) => setImmediate(resolve));
  }
  return tagOf(first, crc);
}

/**
 * The frame `model` shows now: EOPNOTSUPP without a display, the EBUSY `queryPlane` gives when it shows nothing. A
 * frame that changes while it is being made carries the tag of where it began, so the next look makes it again.
 */
export async function modelFrame(model: unknown, opts: FrameOptions = {}): Promise<ScreenFrame> {
  if (!isDisplaySource(model)) throw err('EOPNOTSUPP', 'the device has no display');
  const etag = await planeTagSliced(() => model.queryPlane());
  if (etag === opts.ifNoneMatch) return { unchanged: true, etag };
  return { png: await screenPng(model), etag };
}
