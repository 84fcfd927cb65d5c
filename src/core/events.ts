/**
 * Concepts: the core's uevents. Every event gets the next sequence number and goes, synchronously, to the
 * subscribers (`subscribe`, all kinds or a chosen few) and to every open `watch()` stream. Events are emitted only
 * after the state change they announce is complete, so a listener always sees a consistent core. Only the core
 * emits: views get `subscribe` and `watch`, never the emitter. A listener that throws is reported to `onError` (the
 * core logs it) and the others still run: the change it was told about has happened, and its caller succeeded.
 *
 * A stream buffers at most `bufferSize` events for a slow consumer. On overflow it stops taking events, hands out
 * what it buffered, then fails with `EOVERFLOW` (as inotify's queue overflow): the consumer knows it must re-read the
 * state instead of silently missing changes.
 */
import { err } from '../errors.js';
import type { CoreEvent, CoreEventKind, Uuid } from './types.js';

/** Default number of events a `watch()` stream holds for a consumer that is not reading. */
export const DEFAULT_WATCH_BUFFER = 4096;

/** A subscriber: its listener and the kinds it wants (all when absent). */
interface Subscriber {
  readonly listener: (event: CoreEvent) => void;
  readonly kinds: ReadonlySet<CoreEventKind> | undefined;
}

/** Emits core events. Owned by one `Core`, which alone emits; views subscribe through the core. */
export class EventHub {
  #seq = 0;
  readonly #subscribers = new Set<Subscriber>();
  readonly #streams = new Set<EventStream>();
  readonly #bufferSize: number;
  readonly #onError: (error: unknown, event: CoreEvent) => void;

  constructor(bufferSize: number, onError: (error: unknown, event: CoreEvent) => void) {
    this.#bufferSize = bufferSize;
    this.#onError = onError;
  }

  /** Call `listener` for every event (or those of `kinds`) from now on; returns its unsubscribe (idempotent). */
  subscribe(listener: (event: CoreEvent) => void, kinds?: readonly CoreEventKind[]): () => void {
    // A new object per call, so one listener subscribed twice is two subscriptions, each with its own unsubscribe.
    const sub: Subscriber = { listener, kinds: kinds === undefined ? undefined : new Set(kinds) };
    this.#subscribers.add(sub);
    return () => {
      this.#subscribers.delete(sub);
    };
  }

  /** Subscriptions open now (streams not included). */
  get subscribers(): number {
    return this.#subscribers.size;
  }

  /** The sequence number of the last event emitted (0 before the first). */
  get seq(): number {
    return this.#seq;
  }

  /**
   * Emit one event. Listeners run synchronously; one that throws is reported and never fails the emitter.
   * `origin` and `forced` are added to the event only when set, so other events keep their shape.
   */
  emit(kind: CoreEventKind, parent: string, uuid?: Uuid, type?: string, message?: string, origin?: string, forced?: boolean): void {
    const seq = ++this.#seq;
    const streams = this.#streams;
    // Nobody listening: the sequence number still advances, but no event object is built (create/remove hot path).
    if (streams.size === 0 && this.#subscribers.size === 0) return;
    const event: CoreEvent = {
      kind,
      parent,
      uuid,
      type,
      message,
      ...(origin === undefined ? {} : { origin }),
      ...(forced === true ? { forced: true as const } : {}),
      seq,
    };
    for (const s of streams) s.push(event);
    // A copy: a listener may unsubscribe itself (or another) while the event is delivered.
    for (const sub of [...this.#subscribers]) {
      if (sub.kinds !== undefined && !sub.kinds.has(kind)) continue;
      try {
        sub.listener(event);
      } catch (e) {
        this.#onError(e, event);
      }
    }
  }

  /** Convenience for `warning` events, which report slow or failed steps that the core does not fail on. */
  warn(parent: string, uuid: Uuid | undefined, message: string): void {
    this.emit('warning', parent, uuid, undefined, message);
  }

  /** Open a stream; it receives every event emitted from now until `signal` aborts or the consumer stops. */
  watch(signal?: AbortSignal): AsyncIterableIterator<CoreEvent> {
    return new EventStream(this.#streams, this.#bufferSize, signal);
  }
}

/** One `watch()` stream: both the iterable and its iterator, registered from creation so nothing is missed. */
class EventStream implements AsyncIterableIterator<CoreEvent> {
  readonly #streams: Set<EventStream>;
  readonly #limit: number;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = (): void => this.#close();
  #buffer: CoreEvent[] = [];
  #head = 0;
  #waiter: ((r: IteratorResult<CoreEvent>) => void) | undefined;
  #overflowed = false;
  #closed = false;

  constructor(streams: Set<EventStream>, limit: number, signal: AbortSignal | undefined) {
    this.#streams = streams;
    this.#limit = limit;
    this.#signal = signal;
    if (signal?.aborted) {
      this.#closed = true;
      return;
    }
    streams.add(this);
    signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  push(event: CoreEvent): void {
    if (this.#waiter !== undefined) {
      const w = this.#waiter;
      this.#waiter = undefined;
      w({ value: event, done: false });
      return;
    }
    if (this.#buffer.length - this.#head >= this.#limit) {
      this.#overflowed = true;
      this.#detach();
      return;
    }
    this.#buffer.push(event);
  }

  next(): Promise<IteratorResult<CoreEvent>> {
    if (this.#head < this.#buffer.length) {
      const value = this.#buffer[this.#head++]!;
      // Compact once the consumed prefix dominates, so a long-lived stream does not grow without bound.
      if (this.#head > 1024 && this.#head * 2 > this.#buffer.length) {
        this.#buffer = this.#buffer.slice(this.#head);
        this.#head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.#overflowed) {
      this.#overflowed = false;
      this.#closed = true;
      return Promise.reject(err('EOVERFLOW', `event stream overflowed its buffer of ${this.#limit} events`));
    }
    if (this.#closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.#waiter = resolve;
    });
  }

  return(): Promise<IteratorResult<CoreEvent>> {
    this.#close();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<CoreEvent> {
    return this;
  }

  #detach(): void {
    this.#streams.delete(this);
    this.#signal?.removeEventListener('abort', this.#onAbort);
  }

  #close(): void {
    this.#detach();
    this.#closed = true;
    this.#buffer = [];
    this.#head = 0;
    this.#overflowed = false;
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.({ value: undefined, done: true });
  }
}
