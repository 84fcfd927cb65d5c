/**
 * Concepts: a device's screen as a PNG, made where the device's state lives (in umdevd for a device no client
 * holds or one served in-process, in the device host otherwise). A device without a display is EOPNOTSUPP; one
 * whose display shows nothing is the EBUSY `queryPlane` gave, with its reason.
 */
import { err } from '../errors.js';
import { encodePng } from './png.js';
import { isDisplaySource, toRgb } from './plane.js';

/** Largest PNG a screenshot may be (a plane is at most 8192×8192, which compresses far below this). */
export const MAX_SCREEN_PNG = 64 * 1024 * 1024;

/** The current screen of `model` as PNG bytes. */
export function screenPng(model: unknown): Buffer {
  if (!isDisplaySource(model)) throw err('EOPNOTSUPP', 'the device has no display');
  const plane = model.queryPlane();
  const png = encodePng({ width: plane.width, height: plane.height, rgb: toRgb(plane) });
  if (png.length > MAX_SCREEN_PNG) throw err('E2BIG', `the screenshot is ${png.length} bytes, over ${MAX_SCREEN_PNG}`);
  return png;
}
