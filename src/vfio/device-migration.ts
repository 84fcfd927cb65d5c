/**
 * Concepts: live migration as a device implements it, and the driver that walks the VFIO migration v2 states over
 * it (`migrationPath`). A device gives four things: `quiesce`/`resume` (RUNNING ⇄ STOP: while stopped it changes
 * no state, does no DMA and raises no interrupts), a source of its state in chunks for STOP_COPY (and, optionally,
 * one while still running for PRE_COPY), and a sink that takes a stream in chunks while RESUMING and loads it, all
 * or nothing, on the way out of RESUMING. The driver owns the state and the current source or sink; a transport
 * (the vfio-user DEVICE_FEATURE and MIG_DATA commands) only calls `setState`, `read`, `write` and `precopyInfo`.
 *
 * Two parties may drive one device: its vfio-user client (a VMM) and umdevd (`umdevctl migrate`). Whoever starts a
 * migration `claim`s the driver and changes states through the claim; while it is held every other state change is
 * refused with `EBUSY`.
 * Transitions are serialized: a request waits for the one before it. `reset` (VFIO_DEVICE_RESET) returns the device
 * to RUNNING from any state, ERROR included, as the kernel documents, and drops the claim.
 *
 * `snapshotMigration` adapts a device whose state is one fixed-size snapshot (`save`/`restore`): PRE_COPY sends a
 * snapshot, STOP_COPY sends a fresh one after it, and the destination loads the last complete snapshot it got.
 */
import { err } from '../errors.js';
import { VFIO_DEVICE_STATE as S, VFIO_MIGRATION as M } from './constants.js';
import { type MigState, migrationPath } from './migration.js';

/** A device's state, read in chunks. */
export interface MigrationSource {
  /** Bytes ready to read now (VFIO_MIG_GET_PRECOPY_INFO: `initial` before the first full copy, `dirty` after). */
  pending(): { readonly initial: number; readonly dirty: number };
  /** Up to `max` bytes of the stream; empty when nothing more is ready. The caller owns the buffer. */
  read(max: number): Uint8Array;
}

/** A stream being loaded into a device, in chunks. */
export interface MigrationSink {
  /** Take the next chunk; `EINVAL` (or `ENOSPC`) for a stream the device cannot take. */
  write(chunk: Uint8Array): void;
  /** The stream is complete: load it, all or nothing (`EINVAL` for a bad stream, with the device unchanged). */
  finish(): void | Promise<void>;
}

/** What a device implements to migrate. Declared in its `PciDeviceSpec`; driven by `MigrationDriver`. */
export interface DeviceMigration {
  /** RUNNING → STOP: from when this resolves until `resume`, no state change, no DMA, no interrupt. */
  quiesce(): void | Promise<void>;
  /** STOP → RUNNING. */
  resume(): void | Promise<void>;
  /** RUNNING → PRE_COPY: the state so far while the device keeps running. Absent: no PRE_COPY. */
  preCopy?(): MigrationSource;
  /** STOP → STOP_COPY: the final state of the stopped device. */
  stopCopy(): MigrationSource;
  /** STOP → RESUMING: a sink for the incoming stream. */
  resuming(): MigrationSink;
}

/** A migration reserved by one driver (`MigrationDriver.claim`). */
export interface MigrationClaim {
  setState(target: number): Promise<void>;
  release(): void;
}

/** Drives one device's migration state machine. Owned by the device; starts in RUNNING. */
export class MigrationDriver {
  /** VFIO_MIGRATION_* flags: STOP_COPY always, PRE_COPY when the device has `preCopy`. */
  readonly flags: number;
  readonly #device: DeviceMigration;
  #state: MigState = S.RUNNING;
  #source: MigrationSource | undefined;
  #sink: MigrationSink | undefined;
  /** Who holds the migration now (`claim`); undefined: anyone may change the state. */
  #owner: string | undefined;
  #claim: object | undefined;
  /** The last queued transition; the next one starts after it. */
  #queue: Promise<unknown> = Promise.resolve();
  readonly #listeners = new Set<(state: MigState) => void>();

  constructor(device: DeviceMigration) {
    this.#device = device;
    this.flags = M.STOP_COPY | (device.preCopy ? M.PRE_COPY : 0);
  }

  get state(): MigState {
    return this.#state;
  }

  /** True while the device may run: RUNNING or PRE_COPY. Otherwise it raises no interrupt and does no DMA. */
  get running(): boolean {
    return this.#state === S.RUNNING || this.#state === S.PRE_COPY;
  }

  /** Who holds the migration (`claim`), if anyone. */
  get owner(): string | undefined {
    return this.#owner;
  }

  /** Told of every state the device enters (after the arc's work is done). Returns the unsubscribe. */
  onState(listener: (state: MigState) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Reserve the migration for `owner`: `EBUSY` while someone else holds it or the device is not in RUNNING (a
   * migration already under way). The claim's `setState` works while it is held; `release` (idempotent) and a
   * reset end it, after which its `setState` is `EBUSY` too.
   */
  claim(owner: string): MigrationClaim {
    if (this.#owner !== undefined) throw err('EBUSY', `the migration is held by ${this.#owner}`);
    if (this.#state !== S.RUNNING) throw err('EBUSY', `the device is in migration state ${this.#state}, not RUNNING`);
    const token = { owner };
    this.#owner = owner;
    this.#claim = token;
    return {
      setState: (target) => this.#queued(() => {
        if (this.#claim !== token) throw err('EBUSY', `the migration claimed by ${owner} was taken back (reset)`);
        return this.#walk(target);
      }),
      release: () => {
        if (this.#claim !== token) return;
        this.#claim = undefined;
        this.#owner = undefined;
      },
    };
  }

  /**
   * Walk to `target` one arc at a time; a failing arc leaves the device in ERROR (as the kernel) and throws. An
   * unsupported target is `EINVAL` with the state unchanged; `EBUSY` while someone holds a claim.
   */
  setState(target: number): Promise<void> {
    return this.#queued(() => {
      if (this.#owner !== undefined) throw err('EBUSY', `the migration is held by ${this.#owner}`);
      return this.#walk(target);
    });
  }

  #queued(fn: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #walk(target: number): Promise<void> {
    for (const next of migrationPath(this.#state, target, this.flags)) {
      try {
        await this.#arc(this.#state, next);
      } catch (e) {
        this.#enter(S.ERROR);
        throw e;
      }
      this.#enter(next);
    }
  }

  /** VFIO_DEVICE_RESET: back to RUNNING from any state (a stopped device is resumed first), claim dropped. */
  reset(): Promise<void> {
    return this.#queued(async () => {
      const wasStopped = !this.running;
      this.#owner = undefined;
      this.#claim = undefined;
      this.#enter(S.RUNNING);
      if (wasStopped) await this.#device.resume();
    });
  }

  #enter(state: MigState): void {
    if (state !== S.PRE_COPY && state !== S.STOP_COPY) this.#source = undefined;
    if (state !== S.RESUMING) this.#sink = undefined;
    this.#state = state;
    for (const l of this.#listeners) l(state);
  }

  /** Up to `max` bytes of the outgoing stream (PRE_COPY, STOP_COPY); empty when nothing more is ready. */
  read(max: number): Uint8Array {
    if (!Number.isInteger(max) || max < 0) throw err('EINVAL', `bad migration read size ${max}`);
    if (!this.#source) throw err('EINVAL', `no migration data to read in state ${this.#state}`);
    return this.#source.read(max);
  }

  /** The next chunk of the incoming stream (RESUMING). */
  write(chunk: Uint8Array): void {
    if (!this.#sink) throw err('EINVAL', `migration data written in state ${this.#state}`);
    this.#sink.write(chunk);
  }

  /** VFIO_MIG_GET_PRECOPY_INFO; only in PRE_COPY, as the kernel. */
  precopyInfo(): { readonly initial: number; readonly dirty: number } {
    if (this.#state !== S.PRE_COPY || !this.#source) throw err('EINVAL', 'precopy info outside PRE_COPY');
    return this.#source.pending();
  }

  async #arc(from: MigState, to: MigState): Promise<void> {
    const d = this.#device;
    if (from === S.RUNNING && to === S.STOP) await d.quiesce();
    else if (from === S.STOP && to === S.RUNNING) await d.resume();
    else if (from === S.STOP && to === S.STOP_COPY) this.#source = d.stopCopy();
    else if (from === S.STOP && to === S.RESUMING) this.#sink = d.resuming();
    else if (from === S.RUNNING && to === S.PRE_COPY) this.#source = d.preCopy!();
    else if ((from === S.STOP_COPY || from === S.PRE_COPY) && (to === S.STOP || to === S.RUNNING)) this.#source = undefined;
    else if (from === S.RESUMING && to === S.STOP) {
      const sink = this.#sink!;
      this.#sink = undefined;
      await sink.finish();
    } else if (from === S.PRE_COPY && to === S.STOP_COPY) {
      await d.quiesce();
      // One stream: what PRE_COPY had not delivered yet comes first, then the final state.
      this.#source = chain(this.#source!, d.stopCopy());
    } else throw err('EINVAL', `migration arc ${from} → ${to} not supported`);
  }
}

function chain(first: MigrationSource, second: MigrationSource): MigrationSource {
  return {
    pending: () => {
      const a = first.pending();
      const b = second.pending();
      return { initial: a.initial + b.initial, dirty: a.dirty + b.dirty };
    },
    read: (max) => {
      const a = first.read(max);
      return a.length > 0 ? a : second.read(max);
    },
  };
}

/** A device whose whole state is one snapshot of `size` bytes. */
export interface SnapshotState {
  readonly size: number;
  /** The snapshot; exactly `size` bytes. */
  save(): Uint8Array;
  /** Load a snapshot, all or nothing; `EINVAL` for a bad one. */
  restore(snapshot: Uint8Array): void;
  /** See `DeviceMigration.quiesce`; a device whose state changes only on guest access needs nothing here. */
  quiesce?(): void | Promise<void>;
  resume?(): void | Promise<void>;
}

/** `DeviceMigration` for a snapshot-sized state, with PRE_COPY. */
export function snapshotMigration(state: SnapshotState): DeviceMigration {
  if (!Number.isSafeInteger(state.size) || state.size <= 0) throw err('EINVAL', `snapshot size ${state.size} is not a positive integer`);
  return {
    quiesce: async () => state.quiesce?.(),
    resume: async () => state.resume?.(),
    preCopy: () => bytesSource(state.save(), state.size),
    stopCopy: () => bytesSource(state.save(), state.size),
    resuming: () => lastSnapshotSink(state),
  };
}

function bytesSource(bytes: Uint8Array, size: number): MigrationSource {
  if (bytes.length !== size) throw err('EIO', `snapshot is ${bytes.length} bytes, declared ${size}`);
  let at = 0;
  return {
    pending: () => ({ initial: bytes.length - at, dirty: 0 }),
    read: (max) => {
      const chunk = bytes.slice(at, at + max);
      at += chunk.length;
      return chunk;
    },
  };
}

/** Keeps the latest complete snapshot of the stream (pre-copy, then stop-copy); memory bounded by one snapshot. */
function lastSnapshotSink(state: SnapshotState): MigrationSink {
  const current = new Uint8Array(state.size);
  let last: Uint8Array | undefined;
  let filled = 0;
  return {
    write: (chunk) => {
      let i = 0;
      while (i < chunk.length) {
        const n = Math.min(chunk.length - i, state.size - filled);
        current.set(chunk.subarray(i, i + n), filled);
        filled += n;
        i += n;
        if (filled === state.size) {
          last = current.slice();
          filled = 0;
        }
      }
    },
    finish: () => {
      if (filled !== 0) throw err('EINVAL', `migration stream ends inside a snapshot (${filled} of ${state.size} bytes)`);
      if (!last) throw err('EINVAL', 'migration stream is empty');
      state.restore(last);
    },
  };
}
