/**
 * Concepts: one live feed for every open page. A dashboard server holds at most one event stream and one poll loop
 * on umdevd, whatever the number of viewers, and only while at least one page is open. Pages get Server-Sent
 * Events: a `snapshot` when they connect, then `event` (each core event, for the log), `devices` (changed and
 * removed devices), `pools` (parents and types, when they changed), `definitions`, `activity` (clients, hosts,
 * counters: every second, only when something changed) and `migrations`. After an event the devices and pools are
 * fetched once, a short moment later, so a burst of creates costs one fetch, not one per device.
 *
 * Bounded: a page that stops reading is cut off past `maxQueuedBytes`, and the number of pages is capped.
 */
import type { ServerResponse } from 'node:http';
import type { ApiEndpoint } from '../cli/api-client.js';
import { followEvents, getJson } from './upstream.js';

export interface HubOptions {
  readonly api: ApiEndpoint;
  readonly log: (line: string) => void;
  /** How long after an event the devices are fetched (default 25 ms), so bursts coalesce. */
  readonly settleMs?: number;
  readonly activityMs?: number;
  readonly definitionsMs?: number;
  readonly maxViewers?: number;
  readonly maxQueuedBytes?: number;
}

type Polled = 'activity' | 'migrations' | 'definitions';

interface Keyed {
  readonly uuid: string;
}

/** Owned by the dashboard server; `close()` ends every page's stream and the upstream one. */
export class LiveHub {
  readonly #o: Required<HubOptions>;
  readonly #viewers = new Set<ServerResponse>();
  /** The last devices, pools, definitions, activity and migrations seen, as JSON text per key (to send only changes). */
  readonly #devices = new Map<string, string>();
  #deviceList: unknown[] = [];
  #pools = '[]';
  /** The polled lists, as JSON text. */
  readonly #polled: Record<Polled, string> = { activity: '[]', migrations: '[]', definitions: '[]' };
  #warm: Promise<void> | undefined;
  #abort: AbortController | undefined;
  #timers: NodeJS.Timeout[] = [];
  #refreshTimer: NodeJS.Timeout | undefined;
  #refreshing: Promise<void> | undefined;
  #again = false;
  #connected = false;
  #closed = false;

  constructor(o: HubOptions) {
    this.#o = { settleMs: 25, activityMs: 1000, definitionsMs: 5000, maxViewers: 64, maxQueuedBytes: 4 << 20, ...o };
  }

  /** Pages connected now. */
  get viewers(): number {
    return this.#viewers.size;
  }

  /** Serve one page's stream on `res` (already checked by the caller) until either side ends it. */
  attach(res: ServerResponse): void {
    if (this.#closed || this.#viewers.size >= this.#o.maxViewers) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('too many open dashboards\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    res.flushHeaders();
    this.#viewers.add(res);
    res.on('close', () => {
      this.#viewers.delete(res);
      if (this.#viewers.size === 0) this.#stop();
    });
    if (this.#viewers.size === 1) this.#start();
    void this.#warmUp().then(
      () => this.#send(res, 'snapshot', `{"devices":${JSON.stringify(this.#deviceList)},"pools":${this.#pools},"definitions":${this.#polled.definitions},"activity":${this.#polled.activity},"migrations":${this.#polled.migrations},"connected":${this.#connected}}`),
      (e: unknown) => this.#send(res, 'upstream', JSON.stringify({ connected: false, message: (e as Error).message })),
    );
  }

  #send(res: ServerResponse, event: string, data: string): void {
    if (res.writableEnded || res.destroyed) return;
    if (res.writableLength > this.#o.maxQueuedBytes) {
      this.#o.log('a dashboard page is not reading its stream; closing it');
      res.destroy();
      return;
    }
    res.write(`event: ${event}\ndata: ${data}\n\n`);
  }

  #broadcast(event: string, data: string): void {
    for (const v of this.#viewers) this.#send(v, event, data);
  }

  #start(): void {
    const abort = new AbortController();
    this.#abort = abort;
    void this.#follow(abort.signal);
    this.#timers.push(setInterval(() => void this.#poll('/activity', 'activity').catch(() => undefined), this.#o.activityMs));
    this.#timers.push(setInterval(() => void this.#poll('/migrations', 'migrations').catch(() => undefined), this.#o.activityMs));
    this.#timers.push(setInterval(() => void this.#poll('/definitions', 'definitions').catch(() => undefined), this.#o.definitionsMs));
  }

  #stop(): void {
    this.#abort?.abort();
    this.#abort = undefined;
    for (const t of this.#timers.splice(0)) clearInterval(t);
    if (this.#refreshTimer !== undefined) clearTimeout(this.#refreshTimer);
    this.#refreshTimer = undefined;
    this.#warm = undefined;
    this.#connected = false;
  }

  /** Keep the upstream event stream open while pages are; reconnect a second after it drops. */
  async #follow(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await followEvents(this.#o.api, () => {
          this.#connected = true;
          this.#broadcast('upstream', '{"connected":true}');
          // Whatever happened while the stream was down is fetched now.
          this.#schedule();
        }, (e) => {
          this.#broadcast('event', JSON.stringify(e));
          this.#schedule();
        }, signal);
      } catch (e) {
        if (signal.aborted) return;
        this.#o.log(`umdevd's event stream failed: ${(e as Error).message}`);
      }
      if (signal.aborted) return;
      this.#connected = false;
      this.#broadcast('upstream', JSON.stringify({ connected: false, message: 'the event stream from umdevd ended; reconnecting' }));
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  /** The first snapshot, fetched once for every page that connects meanwhile. */
  #warmUp(): Promise<void> {
    this.#warm ??= Promise.all([this.#refresh(), this.#poll('/definitions', 'definitions'), this.#poll('/activity', 'activity'), this.#poll('/migrations', 'migrations')]).then(() => undefined);
    const w = this.#warm;
    // A failed warm-up is retried by the next page rather than cached.
    w.catch(() => {
      if (this.#warm === w) this.#warm = undefined;
    });
    return w;
  }

  /** Fetch devices and pools a moment from now (once, however many events arrive meanwhile). */
  #schedule(): void {
    if (this.#refreshTimer !== undefined) return;
    this.#refreshTimer = setTimeout(() => {
      this.#refreshTimer = undefined;
      void this.#refresh().catch((e: unknown) => this.#o.log(`cannot refresh devices: ${(e as Error).message}`));
    }, this.#o.settleMs);
  }

  /** One fetch of devices and pools at a time; a request meanwhile makes one more afterwards. */
  #refresh(): Promise<void> {
    if (this.#refreshing !== undefined) {
      this.#again = true;
      return this.#refreshing;
    }
    this.#refreshing = (async () => {
      try {
        do {
          this.#again = false;
          const [devices, pools] = await Promise.all([getJson(this.#o.api, '/devices'), getJson(this.#o.api, '/parents')]);
          this.#applyDevices(devices as Keyed[]);
          const p = JSON.stringify(pools);
          if (p !== this.#pools) {
            this.#pools = p;
            this.#broadcast('pools', p);
          }
        } while (this.#again && !this.#closed);
      } finally {
        this.#refreshing = undefined;
      }
    })();
    return this.#refreshing;
  }

  #applyDevices(list: Keyed[]): void {
    const seen = new Set<string>();
    const upsert: unknown[] = [];
    for (const d of list) {
      seen.add(d.uuid);
      const text = JSON.stringify(d);
      if (this.#devices.get(d.uuid) !== text) {
        this.#devices.set(d.uuid, text);
        upsert.push(d);
      }
    }
    const removed: string[] = [];
    for (const uuid of this.#devices.keys()) {
      if (!seen.has(uuid)) {
        this.#devices.delete(uuid);
        removed.push(uuid);
      }
    }
    this.#deviceList = list;
    if (upsert.length > 0 || removed.length > 0) this.#broadcast('devices', JSON.stringify({ upsert, removed }));
  }

  async #poll(path: string, event: Polled): Promise<void> {
    const body = await getJson(this.#o.api, path);
    // `GET /definitions` answers `{definitions, errors}`; the page wants the list.
    const text = JSON.stringify(event === 'definitions' ? ((body as { definitions?: unknown }).definitions ?? []) : body);
    if (text === this.#polled[event]) return;
    this.#polled[event] = text;
    this.#broadcast(event, text);
  }

  /** Tell the pages that a change the dashboard made has landed, without waiting for the next event. */
  changed(): void {
    this.#schedule();
    void this.#poll('/definitions', 'definitions').catch(() => undefined);
  }

  close(): void {
    this.#closed = true;
    this.#stop();
    for (const v of this.#viewers) v.end();
    this.#viewers.clear();
  }
}
