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
import { BYTES_PER_PIXEL, type DisplayPlane, type DisplaySource } from '../../display/plane.js';
import { screenPng } from '../../display/screen.js';
import type { FrameOptions, ScreenFrame } from './types.js';

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

/**
 * The frame `model` shows now: EOPNOTSUPP without a display, the EBUSY `queryPlane` gives when it shows nothing. A
 * frame that changes while it is being made carries the tag of where it began, so the next look makes it again.
 */
export async function modelFrame(display: DisplaySource | undefined, opts: FrameOptions = {}): Promise<ScreenFrame> {
  if (display === undefined) throw err('EOPNOTSUPP', 'the device has no display');
  const etag = planeTag(display.queryPlane());
  if (etag === opts.ifNoneMatch) return { unchanged: true, etag };
  return { png: await screenPng(display), etag };
}
