/**
 * Concepts: IOMMU group ids. Each device holds one id from attach to detach (the 4.10 core's per-mdev
 * `iommu_group_alloc`). Ids are small integers from 0; a freed id may be handed out again, but never while held.
 * The lowest free id wins (a min-heap of freed ids below a high-water mark), so ids stay dense like the kernel's ida.
 */

/** Allocator of group ids. Owned by one `Core`. */
export class GroupIds {
  /** Every id below this has been handed out at least once. */
  #next = 0;
  /** Freed ids below `#next`, as a binary min-heap. */
  readonly #free: number[] = [];

  /** Take the lowest id not currently held. The caller frees it (see `free`). O(log n). */
  alloc(): number {
    const heap = this.#free;
    if (heap.length === 0) return this.#next++;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      siftDown(heap, 0);
    }
    return top;
  }

  /** Return an id taken by `alloc`. Pairs with `alloc`; freeing an id twice is a bug the caller must avoid. */
  free(id: number): void {
    // Giving back the newest id lowers the mark instead, so an alloc+free pair leaves the allocator exactly as it was.
    if (id === this.#next - 1) {
      this.#next--;
      return;
    }
    const heap = this.#free;
    heap.push(id);
    let i = heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (heap[p]! <= id) break;
      heap[i] = heap[p]!;
      i = p;
    }
    heap[i] = id;
  }

  /** The id the next `alloc` would return (for tests and diagnostics). */
  peek(): number {
    return this.#free.length > 0 ? this.#free[0]! : this.#next;
  }
}

function siftDown(heap: number[], start: number): void {
  const n = heap.length;
  const v = heap[start]!;
  let i = start;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= n) break;
    const r = l + 1;
    const c = r < n && heap[r]! < heap[l]! ? r : l;
    if (heap[c]! >= v) break;
    heap[i] = heap[c]!;
    i = c;
  }
  heap[i] = v;
}
