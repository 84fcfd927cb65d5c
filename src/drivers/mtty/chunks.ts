/**
 * Concepts: how the mtty sample splits an access (`mtty_read`/`mtty_write` in samples/vfio-mdev/mtty.c): into
 * naturally aligned 4, 2 and 1-byte chunks, each handled on its own. Both its BARs and its config space do this.
 */

/** Call `each` for every naturally aligned 4/2/1-byte chunk of [offset, offset + data.length). */
export function chunks(offset: number, data: Uint8Array, each: (at: number, chunk: Uint8Array) => void): void {
  let pos = offset;
  let i = 0;
  while (i < data.length) {
    const left = data.length - i;
    const n = left >= 4 && pos % 4 === 0 ? 4 : left >= 2 && pos % 2 === 0 ? 2 : 1;
    each(pos, data.subarray(i, i + n));
    pos += n;
    i += n;
  }
}
