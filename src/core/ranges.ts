/**
 * Concepts: the mapped ranges of one device (seed `mdev_add_phys_mapping`), kept in a treap keyed by start.
 *
 * Ranges of a device never overlap (an overlapping add is refused with `EINVAL`, as the seed's "should be no overlap"
 * check, with the review's `<=` fix so that adjacent ranges are allowed). Because they are disjoint and ordered by
 * start, they are ordered by end too, so a plain search tree answers overlap queries without an interval tree's
 * max-end augmentation: the ranges hitting [lo, hi) are the one starting at or before `lo` if it reaches past `lo`,
 * then every range starting in [lo, hi). Insert, delete and query are O(log n) expected, plus k for the hits.
 */
import { err } from '../errors.js';
import type { MappedRange } from './types.js';

/** The largest end a range may have: ranges live in a 64-bit address space. */
export const ADDRESS_LIMIT = 1n << 64n;

interface Node {
  readonly range: MappedRange;
  readonly start: bigint;
  readonly end: bigint;
  readonly priority: number;
  left: Node | null;
  right: Node | null;
}

/** The ranges of one device. Owned by that device's record; dropped with it. */
export class RangeTree {
  #root: Node | null = null;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** Add a range; `EINVAL` for a bad start/size (empty, negative, past 2^64) or an overlap with a present range. */
  insert(range: MappedRange): void {
    const { start, size } = range;
    if (typeof start !== 'bigint' || typeof size !== 'bigint' || start < 0n || size <= 0n) {
      throw err('EINVAL', `bad range: start and size must be bigints, start >= 0, size > 0`);
    }
    const end = start + size;
    if (end > ADDRESS_LIMIT) throw err('EINVAL', `range 0x${start.toString(16)}+0x${size.toString(16)} overflows`);
    const before = floor(this.#root, start);
    if (before !== null && before.end > start) throw overlap(range, before);
    const after = ceiling(this.#root, start);
    if (after !== null && after.start < end) throw overlap(range, after);
    const node: Node = { range, start, end, priority: Math.random(), left: null, right: null };
    const [l, r] = split(this.#root, start);
    this.#root = merge(merge(l, node), r);
    this.#size++;
  }

  /** Remove the range starting exactly at `start`; returns it, or undefined when there is none. */
  delete(start: bigint): MappedRange | undefined {
    const [l, rest] = split(this.#root, start);
    const [hit, r] = split(rest, start + 1n);
    this.#root = merge(l, r);
    if (hit !== null) this.#size--;
    return hit?.range;
  }

  /** Call `visit` for every range overlapping [lo, hi), in address order, with the overlapping part. */
  overlapping(lo: bigint, hi: bigint, visit: (range: MappedRange, hitStart: bigint, hitSize: bigint) => void): number {
    const before = floor(this.#root, lo);
    const from = before !== null && before.end > lo ? before.start : lo;
    let count = 0;
    const walk = (n: Node | null): void => {
      while (n !== null) {
        if (n.start >= from) walk(n.left);
        if (n.start >= hi) return;
        if (n.start >= from) {
          const s = n.start > lo ? n.start : lo;
          const e = n.end < hi ? n.end : hi;
          count++;
          visit(n.range, s, e - s);
        }
        n = n.right;
      }
    };
    walk(this.#root);
    return count;
  }

  /** Every range in address order. */
  values(): MappedRange[] {
    const out: MappedRange[] = [];
    const walk = (n: Node | null): void => {
      while (n !== null) {
        walk(n.left);
        out.push(n.range);
        n = n.right;
      }
    };
    walk(this.#root);
    return out;
  }
}

function overlap(range: MappedRange, other: Node): Error {
  return err(
    'EINVAL',
    `range 0x${range.start.toString(16)}+0x${range.size.toString(16)} overlaps 0x${other.start.toString(16)}+0x${(other.end - other.start).toString(16)}`,
  );
}

/** The node with the largest start <= key. */
function floor(n: Node | null, key: bigint): Node | null {
  let best: Node | null = null;
  while (n !== null) {
    if (n.start <= key) {
      best = n;
      n = n.right;
    } else n = n.left;
  }
  return best;
}

/** The node with the smallest start >= key. */
function ceiling(n: Node | null, key: bigint): Node | null {
  let best: Node | null = null;
  while (n !== null) {
    if (n.start >= key) {
      best = n;
      n = n.left;
    } else n = n.right;
  }
  return best;
}

/** Split into (starts < key, starts >= key). */
function split(n: Node | null, key: bigint): [Node | null, Node | null] {
  if (n === null) return [null, null];
  if (n.start < key) {
    const [l, r] = split(n.right, key);
    n.right = l;
    return [n, r];
  }
  const [l, r] = split(n.left, key);
  n.left = r;
  return [l, n];
}

/** Merge two treaps where every start in `a` is below every start in `b`. */
function merge(a: Node | null, b: Node | null): Node | null {
  if (a === null) return b;
  if (b === null) return a;
  if (a.priority > b.priority) {
    a.right = merge(a.right, b);
    return a;
  }
  b.left = merge(a, b.left);
  return b;
}
