/**
 * Concepts: how a kernel VFIO sample driver (mtty, mbochs) splits one read or write of a region into naturally
 * aligned 4-, 2- and 1-byte accesses, as their `*_read`/`*_write` loops do: a register model then only ever sees
 * the access widths a CPU would issue.
 */

/** Call `each` for every naturally aligned 4/2/1-byte chunk of [offset, offset + data.length), in order. */
export function alignedChunks(offset: number, data: Uint8Array, each: (at: number, chunk: Uint8Array) => void): void {
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
