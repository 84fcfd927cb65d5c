/**
 * Concepts: a screen frame from a device model held in this process (a device served in-process, or a device
 * host's own instance). The tag is a CRC-32 of the visible bytes of every row plus the plane's format, size and
 * stride: hashing 2 MiB of video memory costs about a millisecond, while encoding it costs tens, so a frame that
 * did not change is never encoded. Video memory is mapped into the guest, so no write to it can be trapped: looking
 * is the only way to know. A CRC collision would keep one stale frame on screen until the next change; no
 * decision rests on the tag.
 */
import { crc32 } from 'node:zlib';
import { err } from '../../errors.js';
import { encodePng } from '../../display/png.js';
import { BYTES_PER_PIXEL, type DisplayPlane, isDisplaySource, toRgb } from '../../display/plane.js';
import { MAX_SCREEN_PNG } from '../../display/screen.js';
import type { FrameOptions, ScreenFrame } from './types.js';

/** zlib level for live frames: screens are flat colour and text, where level 1 is nearly as small and several times faster than 6. */
const LIVE_PNG_LEVEL = 1;

/** The tag of what `plane` shows now. */
export function planeTag(p: DisplayPlane): string {
  const row = p.width * BYTES_PER_PIXEL[p.format];
  if (p.stride < row || p.stride * (p.height - 1) + row > p.pixels.length) throw err('EINVAL', `a ${p.width}x${p.height} plane with stride ${p.stride} does not fit ${p.pixels.length} bytes`);
  let crc = 0;
  if (p.stride === row) {
    crc = crc32(p.pixels.subarray(0, row * p.height));
  } else {
    for (let y = 0; y < p.height; y++) crc = crc32(p.pixels.subarray(y * p.stride, y * p.stride + row), crc);
  }
  return `${p.format}-${p.width}x${p.height}-${p.stride}-${(crc >>> 0).toString(16).padStart(8, '0')}`;
}

/** The frame `model` shows now: EOPNOTSUPP without a display, the EBUSY `queryPlane` gives when it shows nothing. */
export function modelFrame(model: unknown, opts: FrameOptions = {}): ScreenFrame {
  if (!isDisplaySource(model)) throw err('EOPNOTSUPP', 'the device has no display');
  const plane = model.queryPlane();
  const etag = planeTag(plane);
  if (etag === opts.ifNoneMatch) return { unchanged: true, etag };
  const png = encodePng({ width: plane.width, height: plane.height, rgb: toRgb(plane) }, LIVE_PNG_LEVEL);
  if (png.length > MAX_SCREEN_PNG) throw err('E2BIG', `the frame is ${png.length} bytes, over ${MAX_SCREEN_PNG}`);
  return { png, etag };
}
