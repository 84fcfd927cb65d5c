/** A small seeded PRNG (mulberry32): the same seed gives the same inputs, run after run. */
export class Rng {
  #s: number;

  constructor(seed: number) {
    this.#s = seed >>> 0;
  }

  /** A uniform u32. */
  u32(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.u32() / 0x100000000) * n);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.u32() / 0x100000000 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }

  /** A copy of `b` with a few bytes changed, then maybe cut short or grown: a near miss of a valid input. */
  mutate(b: Buffer): Buffer {
    const out = Buffer.from(b);
    for (let i = 0, n = 1 + this.int(4); i < n && out.length > 0; i++) out[this.int(out.length)] = this.u32() & 0xff;
    if (this.chance(0.3)) return out.subarray(0, this.int(out.length + 1));
    return this.chance(0.2) ? Buffer.concat([out, this.bytes(1 + this.int(out.length))]) : out;
  }
}
