/**
 * Concepts: an adaptive busy-poll window for one fd served request by request (a VMM's vfio-user socket, /dev/fuse).
 * The peer blocks on our reply and sends its next request a few microseconds later; sleeping in epoll in between
 * costs a wake-up of an idle CPU per request, which on a virtualised host is a large part of a round trip. So after
 * answering, the reader keeps trying its non-blocking read for a short window (`native.read`/`recvMsgInto` with
 * `spinNs`) before going back to the event loop, as KVM's halt polling does for an idle vCPU.
 *
 * The window follows KVM's grow/shrink rule: when the next request comes within `maxNs` of the last reply, the
 * window doubles (from 10 us) up to `maxNs`; when it comes later, it halves and drops to 0 below 10 us. So a device
 * whose client is idle or slow costs no spinning, and a busy one spins only as long as its client's requests
 * actually come. One wake-up serves at most `BUDGET_MS` of back-to-back requests before the loop runs its other work.
 *
 * And spinning never costs more CPU than it can save: a spin is paid from a credit earned at `CREDIT` (0.15) of the
 * time the reader spent handling requests, and each spin is charged what it took (`spun`). So over any stretch the
 * time spent spinning is at most 0.15 of the time spent on the work itself (plus one window of credit kept at most),
 * and a process that spins uses at most about 1.15× the CPU it would without, even when no spin ever finds a request
 * (a client pacing its requests just beyond the window: the case that once cost twice the CPU). A spin that does find
 * one saves a sleep and a wake-up, which costs more than the spin; that is where the latency comes from.
 */
import { err } from '../errors.js';

const GROW_START_NS = 10_000;
/** Spin credit earned per ns of handling: at most this much more CPU than without spinning. */
const CREDIT = 0.15;
/** Spins shorter than this find nothing worth the syscall: not started. */
const MIN_SPIN_NS = 2_000;
/** The native reads refuse longer spins: the loop serves nothing else meanwhile. */
const MAX_NS = 1_000_000;
/** The longest a reader keeps the event loop to itself serving one fd's back-to-back requests. */
const BUDGET_MS = 2;

export class BusyPoll {
  readonly #maxNs: number;
  readonly #now: () => number;
  #windowNs = 0;
  /** Whether the reader went back to the loop after a read found nothing, and when (ms on `now`). */
  #idle = false;
  #idleAt = 0;
  /** When the current wake-up began (ms on `now`). */
  #wokeAt = 0;
  /** Ns of spinning the reader may still do (earned by handling, spent by spins; at most one window). */
  #creditNs = 0;
  /** Ns spun in the current wake-up (not handling). */
  #spunNs = 0;

  /**
   * `maxNs`: the longest window, in (0, 1 ms] (the event loop is blocked while a reader spins). `now` is the clock
   * in ms (tests pass their own).
   */
  constructor(maxNs: number, now: () => number = () => performance.now()) {
    if (!Number.isInteger(maxNs) || maxNs <= 0 || maxNs > MAX_NS) throw err('EINVAL', `busy-poll window ${maxNs} ns outside (0, ${MAX_NS}]`);
    this.#maxNs = maxNs;
    this.#now = now;
  }

  /** The current window in ns (0: closed). */
  get windowNs(): number {
    return this.#windowNs;
  }

  /** Ns of spinning the reader may do now. */
  get creditNs(): number {
    return this.#creditNs;
  }

  /** The loop reported the fd readable: adapt the window to how long the peer took since the reader went idle. */
  woke(): void {
    const now = this.#now();
    this.#wokeAt = now;
    this.#spunNs = 0;
    if (!this.#idle) return;
    this.#idle = false;
    const waitedNs = (now - this.#idleAt) * 1e6 + this.#windowNs;
    if (waitedNs <= this.#maxNs) this.#windowNs = Math.min(this.#maxNs, this.#windowNs > 0 ? this.#windowNs * 2 : GROW_START_NS);
    else if ((this.#windowNs = Math.floor(this.#windowNs / 2)) < GROW_START_NS) this.#windowNs = 0;
  }

  /**
   * How long the next read may spin, in ns: 0 when the window is closed, this wake-up used its budget, or the credit
   * is spent. Report what the spin took with `spun`.
   */
  spinNs(): number {
    if (this.#windowNs === 0 || this.#now() - this.#wokeAt > BUDGET_MS) return 0;
    const ns = Math.min(this.#windowNs, Math.floor(this.#creditNs));
    return ns < MIN_SPIN_NS ? 0 : ns;
  }

  /** A read spun for `ns` (whether or not it found a request): charged to the credit. */
  spun(ns: number): void {
    this.#spunNs += ns;
    this.#creditNs = Math.max(0, this.#creditNs - ns);
  }

  /** The reader found nothing (after spinning `spinNs()`, or without) and goes back to the loop. */
  idle(): void {
    const now = this.#now();
    this.#idle = true;
    this.#idleAt = now;
    // What this wake-up spent on requests (not spinning) earns the next spins.
    const handledNs = Math.max(0, (now - this.#wokeAt) * 1e6 - this.#spunNs);
    this.#creditNs = Math.min(this.#maxNs, this.#creditNs + handledNs * CREDIT);
  }
}
