/**
 * Concepts: the migrations of one daemon as the dashboard and `/metrics` see them: those in progress (direction,
 * phase, bytes so far, the peer) and totals of finished ones by result. Outgoing migrations report each step
 * (`MigrationEvent`), incoming ones the bytes they take; both say how they ended. Bounded: an entry lives only
 * while its migration runs, and the totals are a handful of numbers.
 */
import type { MigrationEvent } from './outgoing.js';

export type MigrationDirection = 'out' | 'in';
export type MigrationOutcome = 'done' | 'failed';

/** One migration in progress. Plain data. */
export interface MigrationProgress {
  readonly uuid: string;
  readonly direction: MigrationDirection;
  /** `starting`, then the outgoing steps (`created`, `pre-copy`, `stop-copy`, `switched`) or `receiving`. */
  readonly phase: string;
  readonly bytes: number;
  /** Where it goes (outgoing) or `source` (incoming). */
  readonly peer: string;
  /** ms since the epoch. */
  readonly startedAt: number;
}

/** Totals since the daemon started. Plain data. */
export interface MigrationTotals {
  readonly finished: Readonly<Record<MigrationDirection, Readonly<Record<MigrationOutcome, number>>>>;
  readonly bytes: Readonly<Record<MigrationDirection, number>>;
}

/** How one migration reports; `end` is idempotent. */
export interface MigrationTracker {
  step(e: MigrationEvent): void;
  bytes(n: number): void;
  end(outcome: MigrationOutcome): void;
}

/** Owned by the daemon. */
export class MigrationBoard {
  readonly #active = new Map<string, { -readonly [K in keyof MigrationProgress]: MigrationProgress[K] }>();
  readonly #finished = { out: { done: 0, failed: 0 }, in: { done: 0, failed: 0 } };
  readonly #bytes = { out: 0, in: 0 };

  /** A migration starts; keyed by direction and UUID (a device may leave one daemon while it arrives at another). */
  begin(uuid: string, direction: MigrationDirection, peer: string, now = Date.now()): MigrationTracker {
    const key = `${direction}:${uuid}`;
    const entry = { uuid, direction, phase: direction === 'out' ? 'starting' : 'receiving', bytes: 0, peer, startedAt: now };
    this.#active.set(key, entry);
    let ended = false;
    // Outgoing steps report pre-copy bytes so far, then the stop-copy bytes alone.
    let pre = 0;
    return {
      step: (e) => {
        entry.phase = e.phase;
        if (e.phase === 'pre-copy') {
          this.#add(entry, e.bytes - pre);
          pre = Math.max(pre, e.bytes);
        } else if (e.phase === 'stop-copy') {
          this.#add(entry, e.bytes);
        }
      },
      bytes: (n) => this.#add(entry, n),
      end: (outcome) => {
        if (ended) return;
        ended = true;
        if (this.#active.get(key) === entry) this.#active.delete(key);
        this.#finished[direction][outcome]++;
      },
    };
  }

  #add(entry: { direction: MigrationDirection; bytes: number }, n: number): void {
    if (n <= 0) return;
    entry.bytes += n;
    this.#bytes[entry.direction] += n;
  }

  /** The migrations running now, oldest first. */
  active(): MigrationProgress[] {
    return [...this.#active.values()].map((e) => ({ ...e }));
  }

  totals(): MigrationTotals {
    return { finished: { out: { ...this.#finished.out }, in: { ...this.#finished.in } }, bytes: { ...this.#bytes } };
  }
}
