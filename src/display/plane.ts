/**
 * Concepts: a device's display, as a VMM's `VFIO_DEVICE_QUERY_GFX_PLANE` sees it: the primary plane's format,
 * size, stride and pixels, taken from wherever the device keeps them (mbochs: its video memory). A device with a
 * display declares a `DisplaySource` (`PciDeviceSpec.display`); `queryPlane` throws `EBUSY` with the reason when nothing is shown (display
 * disabled, a mode the device cannot show), so the API can answer 409 with that reason. `toRgb` turns a plane into
 * packed 8-bit RGB rows, the one form the PNG encoder takes.
 */
import { err } from '../errors.js';

/**
 * Pixel layouts, named as DRM fourccs name them (little-endian words): `xrgb8888` is B,G,R,X in memory,
 * `rgb888` is B,G,R, `rgb565` is a 16-bit word with red in the top five bits.
 */
export type PixelFormat = 'xrgb8888' | 'rgb888' | 'rgb565';

export const BYTES_PER_PIXEL: Readonly<Record<PixelFormat, number>> = { xrgb8888: 4, rgb888: 3, rgb565: 2 };

/** One plane's pixels: `height` rows of `width` pixels starting `stride` bytes apart in `pixels`. A view, not a copy. */
export interface DisplayPlane {
  readonly format: PixelFormat;
  readonly width: number;
  readonly height: number;
  readonly stride: number;
  readonly pixels: Uint8Array;
}

/** A device with a display. */
export interface DisplaySource {
  /** The primary plane now; EBUSY (with the reason) when the display shows nothing. The view is valid until the next await. */
  queryPlane(): DisplayPlane;
}

/** Largest plane `toRgb` converts: 8192×8192, bochs-drm's own limit. */
export const MAX_PLANE_PIXELS = 8192 * 8192;

/** The plane as `height` rows of `width` × 3 bytes (R, G, B); EINVAL when the plane does not fit its pixels. */
export function toRgb(p: DisplayPlane): Buffer {
  const bpp = BYTES_PER_PIXEL[p.format];
  if (!Number.isInteger(p.width) || !Number.isInteger(p.height) || p.width <= 0 || p.height <= 0 || p.width * p.height > MAX_PLANE_PIXELS) {
    throw err('EINVAL', `plane of ${p.width}x${p.height} pixels`);
  }
  if (p.stride < p.width * bpp || p.stride * (p.height - 1) + p.width * bpp > p.pixels.length) {
    throw err('EINVAL', `a ${p.width}x${p.height} plane with stride ${p.stride} does not fit ${p.pixels.length} bytes`);
  }
  const out = Buffer.alloc(p.width * p.height * 3);
  const src = p.pixels;
  let o = 0;
  for (let y = 0; y < p.height; y++) {
    let i = y * p.stride;
    for (let x = 0; x < p.width; x++, i += bpp) {
      if (p.format === 'rgb565') {
        const v = src[i]! | (src[i + 1]! << 8);
        const r = v >>> 11;
        const g = (v >>> 5) & 0x3f;
        const b = v & 0x1f;
        // Widen 5 and 6 bits to 8 by repeating the top bits, so full intensity stays 255.
        out[o++] = (r << 3) | (r >>> 2);
        out[o++] = (g << 2) | (g >>> 4);
        out[o++] = (b << 3) | (b >>> 2);
      } else {
        out[o++] = src[i + 2]!;
        out[o++] = src[i + 1]!;
        out[o++] = src[i]!;
      }
    }
  }
  return out;
}
