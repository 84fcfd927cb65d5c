/**
 * Concepts: the root's one door to device screens, however many viewers look. Per device it keeps the last frame
 * and its tag, asks the device's side for a new one at most every `freshMs` (passing the tag it has, so an
 * unchanged screen costs a hash there and nothing here), and lets every caller in that window share the one
 * answer; concurrent callers share one request. Memory is one PNG per device someone watched in the last
 * `idleMs`; entries nobody asked for since are dropped.
 */
import type { FrameOptions, ScreenFrame } from './types.js';

interface Entry {
  last: { readonly png: Buffer; readonly etag: string; checkedAt: number } | undefined;
  inflight: Promise<void> | undefined;
  usedAt: number;
}

/** Where frames come from: the device's side, asked with the tag the root holds. */
export type FrameSource = (uuid: string, opts: FrameOptions) => Promise<ScreenFrame>;

export interface ScreenFramesOptions {
  /** A frame this young is served as it is (default 100 ms: 10 frames/s at most per device). */
  readonly freshMs?: number;
  /** Entries unused this long are dropped (default 10 s). */
  readonly idleMs?: number;
  readonly now?: () => number;
}

/** Owned by the daemon's API context; holds no timers. */
export class ScreenFrames {
  readonly #source: FrameSource;
  readonly #entries = new Map<string, Entry>();
  readonly #freshMs: number;
  readonly #idleMs: number;
  readonly #now: () => number;
  /** Frames asked of the device's side, and how many of those came back changed (for tests and benches). */
  asked = 0;
  encoded = 0;

  constructor(source: FrameSource, options: ScreenFramesOptions = {}) {
    this.#source = source;
    this.#freshMs = options.freshMs ?? 100;
    this.#idleMs = options.idleMs ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** The frame of `uuid`, or `unchanged` when it still has the tag `ifNoneMatch`. Errors of the source pass through. */
  async get(uuid: string, ifNoneMatch?: string): Promise<ScreenFrame> {
    const now = this.#now();
    this.#sweep(now);
    let e = this.#entries.get(uuid);
    if (e === undefined) this.#entries.set(uuid, (e = { last: undefined, inflight: undefined, usedAt: now }));
    e.usedAt = now;
    if (e.last === undefined || now - e.last.checkedAt >= this.#freshMs) {
      const entry = e;
      entry.inflight ??= this.#refresh(uuid, entry).finally(() => {
        entry.inflight = undefined;
      });
      await entry.inflight;
    }
    const last = e.last;
    if (last === undefined) throw new Error('screen frame refresh left no frame');
    return last.etag === ifNoneMatch ? { unchanged: true, etag: last.etag } : { png: last.png, etag: last.etag };
  }

  /** Forget a device (it was removed). */
  drop(uuid: string): void {
    this.#entries.delete(uuid);
  }

  /** Devices with a cached frame now. */
  get size(): number {
    return this.#entries.size;
  }

  async #refresh(uuid: string, e: Entry): Promise<void> {
    this.asked++;
    let r: ScreenFrame;
    try {
      r = await this.#source(uuid, e.last === undefined ? {} : { ifNoneMatch: e.last.etag });
    } catch (error) {
      // A display that went dark (EBUSY) or a removed device must not keep showing its last frame.
      e.last = undefined;
      throw error;
    }
    const at = this.#now();
    if ('png' in r) {
      this.encoded++;
      e.last = { png: r.png, etag: r.etag, checkedAt: at };
    } else if (e.last !== undefined && e.last.etag === r.etag) {
      e.last.checkedAt = at;
    } else {
      // The source says "unchanged" for a tag this cache does not hold: ask again for the whole frame.
      const full = await this.#source(uuid, {});
      if (!('png' in full)) throw new Error('frame source answered unchanged without a tag to compare');
      this.encoded++;
      e.last = { png: full.png, etag: full.etag, checkedAt: at };
    }
  }

  #sweep(now: number): void {
    for (const [uuid, e] of this.#entries) if (e.inflight === undefined && now - e.usedAt > this.#idleMs) this.#entries.delete(uuid);
  }
}
