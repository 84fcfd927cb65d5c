/**
 * Concepts: umdev-k8s's view of umdevd, kept current from the daemon's control API. It follows `GET /events` and,
 * once the stream is open and after every device or parent event, re-reads `GET /devices` and `GET /types` (the
 * stream is opened first, so no change between the read and the stream is missed). A burst of events costs one
 * re-read: while one is in flight, further events only mark the view dirty. When the stream ends (the daemon stopped
 * or was killed: the kernel closes its sockets at once) the view turns `up: false` at once, keeping the last devices
 * so that they can be reported unhealthy, and the stream is retried every `retryMs` until the daemon answers again.
 * What the agent itself just created or removed (`noteDevice`, `noteGone`) shows at once, over the last read, until
 * a read that started after the change replaces it: a held device never looks gone while a re-read is in flight.
 */
import type { IncomingMessage } from 'node:http';
import { apiOpen, type ApiEndpoint } from '../../api-client/http.js';
import { apiRequest } from '../../api-client/daemon-api.js';
import type { DeviceView, TypeView } from '../../api-client/wire.js';
import { describeError, type Logger } from '../../log.js';

/** What umdevd had at one moment. Plain data; a new object on every change. */
export interface UmdevSnapshot {
  /** True while the event stream is open (the daemon answers). */
  readonly up: boolean;
  readonly devices: readonly DeviceView[];
  readonly types: readonly TypeView[];
}

/** What the rest of the agent reads of umdevd; `UmdevWatch` is the live one. */
export interface UmdevView {
  readonly endpoint: ApiEndpoint;
  readonly snapshot: UmdevSnapshot;
  /** Called with every new snapshot; returns its unsubscribe function. */
  onChange(cb: (s: UmdevSnapshot) => void): () => void;
  /** Re-read devices and types now; resolves when the view has them. */
  refresh(): Promise<void>;
  /** The agent created `view` (or found it). */
  noteDevice(view: DeviceView): void;
  /** The agent removed `uuid`. */
  noteGone(uuid: string): void;
}

/** Event kinds after which devices or types may have changed. */
const RELEVANT = new Set(['add', 'remove', 'registered', 'unregistered', 'change', 'online', 'offline']);

export interface UmdevWatchOptions {
  readonly retryMs?: number;
}

/** Owned by its creator; `close()` ends the stream and the retries. */
export class UmdevWatch implements UmdevView {
  readonly #ep: ApiEndpoint;
  readonly #log: Logger;
  readonly #retryMs: number;
  readonly #listeners = new Set<(s: UmdevSnapshot) => void>();
  readonly #abort = new AbortController();
  #snapshot: UmdevSnapshot = { up: false, devices: [], types: [] };
  /** The last read, before the agent's own changes are laid over it. */
  #read0: UmdevSnapshot = this.#snapshot;
  /** The agent's own changes by UUID (null: removed), each with the sequence number it was made at. */
  readonly #local = new Map<string, { readonly view: DeviceView | null; readonly seq: number }>();
  #seq = 0;
  /** True while the event stream is open; a re-read that finishes later reports this, not a stale `up`. */
  #streaming = false;
  #refreshing: Promise<void> | undefined;
  #dirty = false;
  #everUp = false;
  #firstUp: Promise<void>;
  #resolveFirstUp: () => void = () => {};

  constructor(ep: ApiEndpoint, log: Logger, opts: UmdevWatchOptions = {}) {
    this.#ep = ep;
    this.#log = log;
    this.#retryMs = opts.retryMs ?? 200;
    this.#firstUp = new Promise((r) => (this.#resolveFirstUp = r));
  }

  get endpoint(): ApiEndpoint {
    return this.#ep;
  }

  get snapshot(): UmdevSnapshot {
    return this.#snapshot;
  }

  /** Resolves once the daemon has answered for the first time. */
  whenUp(): Promise<void> {
    return this.#firstUp;
  }

  /** Called with every new snapshot; returns its unsubscribe function. */
  onChange(cb: (s: UmdevSnapshot) => void): () => void {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  /** Start following the daemon (returns at once). */
  start(): void {
    void this.#loop();
  }

  close(): void {
    this.#abort.abort();
    this.#listeners.clear();
  }

  /** Re-read devices and types now (after this agent changed something itself); resolves when the view has them. */
  async refresh(): Promise<void> {
    this.#dirty = true;
    while (this.#dirty) {
      if (this.#refreshing === undefined) {
        this.#refreshing = this.#read().finally(() => (this.#refreshing = undefined));
      }
      await this.#refreshing;
    }
  }

  /** The agent created `view` (or found it): show it now. */
  noteDevice(view: DeviceView): void {
    this.#local.set(view.uuid, { view, seq: ++this.#seq });
    this.#set(this.#read0);
  }

  /** The agent removed `uuid`: show it gone now. */
  noteGone(uuid: string): void {
    this.#local.set(uuid, { view: null, seq: ++this.#seq });
    this.#set(this.#read0);
  }

  async #read(): Promise<void> {
    this.#dirty = false;
    const startedAt = this.#seq;
    try {
      const [devices, types] = await Promise.all([apiRequest(this.#ep, 'GET', '/devices'), apiRequest(this.#ep, 'GET', '/types')]);
      if (this.#abort.signal.aborted) return;
      for (const [uuid, l] of this.#local) if (l.seq <= startedAt) this.#local.delete(uuid);
      this.#set({ up: this.#streaming, devices: devices as DeviceView[], types: types as TypeView[] });
    } catch (e) {
      // The stream notices a dead daemon on its own; a failed read while it is up is retried with the next event.
      this.#log.debug(`reading devices failed: ${describeError(e)}`);
    }
  }

  #set(read: UmdevSnapshot): void {
    this.#read0 = read;
    let s = read;
    if (this.#local.size > 0) {
      const devices = read.devices.filter((d) => !this.#local.has(d.uuid));
      for (const l of this.#local.values()) if (l.view !== null) devices.push(l.view);
      s = { ...read, devices };
    }
    this.#snapshot = s;
    if (s.up && !this.#everUp) {
      this.#everUp = true;
      this.#resolveFirstUp();
    }
    for (const cb of this.#listeners) cb(s);
  }

  async #loop(): Promise<void> {
    const signal = this.#abort.signal;
    let wasUp = false;
    while (!signal.aborted) {
      let res: IncomingMessage | undefined;
      try {
        res = await apiOpen(this.#ep, 'GET', '/events', { signal, headers: { accept: 'application/x-ndjson' } });
        if (res.statusCode !== 200) throw new Error(`GET /events: HTTP ${res.statusCode}`);
        this.#streaming = true;
        if (!wasUp) this.#log.info('umdevd answers; following its events');
        wasUp = true;
        await this.refresh();
        await this.#follow(res);
      } catch (e) {
        if (signal.aborted) break;
        if (wasUp) this.#log.warn(`lost umdevd: ${describeError(e)}`);
      } finally {
        res?.destroy();
      }
      if (signal.aborted) break;
      if (this.#streaming || wasUp) {
        if (wasUp && this.#streaming) this.#log.warn('umdevd went away; its devices are unhealthy until it is back');
        this.#streaming = false;
        wasUp = false;
        this.#local.clear();
        this.#set({ ...this.#snapshot, up: false });
      }
      await new Promise((r) => setTimeout(r, this.#retryMs));
    }
  }

  /** Reads NDJSON lines until the stream ends; each relevant event triggers a (coalesced) re-read. */
  async #follow(res: IncomingMessage): Promise<void> {
    const decoder = new TextDecoder();
    let pending = '';
    for await (const chunk of res as AsyncIterable<Buffer>) {
      pending += decoder.decode(chunk, { stream: true });
      let nl: number;
      let relevant = false;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (line === '') continue;
        try {
          relevant ||= RELEVANT.has((JSON.parse(line) as { kind?: string }).kind ?? '');
        } catch {
          relevant = true;
        }
      }
      if (relevant) void this.refresh();
    }
  }
}
