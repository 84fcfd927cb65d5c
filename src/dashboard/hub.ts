/**
 * Concepts: one live feed for every open page. A dashboard server holds at most one event stream and one poll loop
 * on umdevd, whatever the number of viewers, and only while at least one page is open. Pages get Server-Sent
 * Events: a `snapshot` when they connect (unless the state they were served with is still current), then `event`
 * (each core event, for the log), `devices` (changed and removed devices), `pools` (parents and types, when they
 * changed), `definitions`, `activity` (clients, hosts, counters: every second, only when something changed) and
 * `migrations`.
 *
 * An event that names a device costs a look at that device and at the pools, not at every device: at 1,000 devices
 * the whole list is ~300 KB of JSON for umdevd to render and this server to parse, for one line of change. The look
 * starts at once; events that arrive while it runs are gathered and looked at together when it ends, so a burst
 * costs one look per round trip, and a burst of more than `maxTargeted` devices one fetch of the whole list. Events
 * that name no device (a parent registered), and a reconnect of the event stream, fetch the whole list.
 *
 * Every change to the state is numbered (`version`, also each message's SSE `id`), so a page that was served the
 * state with its HTML, or that reconnects, is sent a snapshot only when it missed something.
 *
 * Bounded: a page that stops reading is cut off past `maxQueuedBytes`, and the number of pages is capped.
 */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { ApiEndpoint } from '../api-client/http.js';
import { UpstreamError, followEvents, getJson, getText } from './upstream.js';

export interface HubOptions {
  readonly api: ApiEndpoint;
  readonly log: (line: string) => void;
  /** Devices looked at one by one after a burst of events; more than this fetch the whole list (default 32). */
  readonly maxTargeted?: number;
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
  /** Viewers not sent their first state yet: changes are not sent to them (that state will hold them). */
  readonly #joining = new Set<ServerResponse>();
  /** The last devices seen, as JSON text by UUID (to send only changes, and snapshots without re-serialising). */
  readonly #devices = new Map<string, string>();
  /**
   * The whole list as umdevd sent it, while no page takes changes: a page's first view needs only this text, so it
   * is neither parsed nor split (at 1,000 devices that work would compete with the browser's first paint). `#devices`
   * is made from it when a change must be worked out.
   */
  #rawList: string | undefined;
  #pools = '[]';
  /** The polled lists, as JSON text. */
  readonly #polled: Record<Polled, string> = { activity: '[]', migrations: '[]', definitions: '[]' };
  /** This hub's name in versions: a version from another run of the server never matches. */
  readonly #epoch = randomBytes(6).toString('base64url');
  #serial = 0;
  #warm: Promise<void> | undefined;
  #abort: AbortController | undefined;
  #timers: NodeJS.Timeout[] = [];
  /** Devices to look at in the next refresh, and whether it must fetch the whole list instead. */
  readonly #stale = new Set<string>();
  #staleAll = false;
  #refreshing: Promise<void> | undefined;
  #connected = false;
  #closed = false;

  constructor(o: HubOptions) {
    this.#o = { maxTargeted: 32, activityMs: 1000, definitionsMs: 5000, maxViewers: 64, maxQueuedBytes: 4 << 20, ...o };
  }

  /** Pages connected now. */
  get viewers(): number {
    return this.#viewers.size;
  }

  /** Names the state pages have now; changes with every change sent. */
  get version(): string {
    return `${this.#epoch}.${this.#serial}`;
  }

  /**
   * The state as a page's first view: `{version, devices, pools, definitions, activity, migrations, connected}` as
   * JSON text. While pages are open it is the hub's live state; otherwise it is fetched now (nothing follows umdevd
   * then, so what was seen last may be stale).
   */
  async snapshot(): Promise<string> {
    if (this.#viewers.size === 0) this.#warm = undefined;
    await this.#warmUp();
    return this.#snapshotText();
  }

  #snapshotText(): string {
    const devices = this.#rawList ?? `[${[...this.#devices.values()].join(',')}]`;
    return `{"version":${JSON.stringify(this.version)},"devices":${devices},"pools":${this.#pools},"definitions":${this.#polled.definitions},"activity":${this.#polled.activity},"migrations":${this.#polled.migrations},"connected":${this.#connected}}`;
  }

  /**
   * Serve one page's stream on `res` (already checked by the caller) until either side ends it. `since`: the version
   * of the state the page has (from its HTML, or the SSE `Last-Event-ID` of a reconnect); a snapshot is sent unless
   * it is the current one.
   */
  attach(res: ServerResponse, since?: string): void {
    if (this.#closed || this.#viewers.size >= this.#o.maxViewers) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('too many open dashboards\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    res.flushHeaders();
    this.#viewers.add(res);
    this.#joining.add(res);
    res.on('close', () => {
      this.#viewers.delete(res);
      this.#joining.delete(res);
      if (this.#viewers.size === 0) this.#stop();
    });
    // Starting the upstream stream fetches the whole list once it is open (onOpen below): whatever changed while
    // nothing followed umdevd reaches this page then, as changes to the state it has.
    if (this.#viewers.size === 1) this.#start();
    void this.#warmUp().then(
      () => {
        this.#joining.delete(res);
        if (since !== this.version) this.#send(res, 'snapshot', this.#snapshotText(), this.version);
        else this.#send(res, 'upstream', JSON.stringify({ connected: this.#connected }));
      },
      (e: unknown) => {
        // No state to start from: the changes that follow are all this page gets until it reconnects.
        this.#joining.delete(res);
        this.#send(res, 'upstream', JSON.stringify({ connected: false, message: (e as Error).message }));
      },
    );
  }

  #send(res: ServerResponse, event: string, data: string, id?: string): void {
    if (res.writableEnded || res.destroyed) return;
    if (res.writableLength > this.#o.maxQueuedBytes) {
      this.#o.log('a dashboard page is not reading its stream; closing it');
      res.destroy();
      return;
    }
    res.write(`${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${data}\n\n`);
  }

  /** Send a message to every page; `changes` marks a change to the state (a new version), not a note such as a log line. */
  #broadcast(event: string, data: string, changes = true): void {
    if (changes) this.#serial++;
    const id = changes ? this.version : undefined;
    for (const v of this.#viewers) if (!changes || !this.#joining.has(v)) this.#send(v, event, data, id);
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
          this.#invalidate(undefined);
        }, (e) => {
          this.#broadcast('event', JSON.stringify(e), false);
          const uuid = (e as { uuid?: unknown }).uuid;
          this.#invalidate(typeof uuid === 'string' ? uuid : undefined);
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
    if (this.#warm === undefined) {
      this.#staleAll = true;
      this.#warm = Promise.all([this.#refresh(), this.#poll('/definitions', 'definitions'), this.#poll('/activity', 'activity'), this.#poll('/migrations', 'migrations')]).then(() => undefined);
    }
    const w = this.#warm;
    // A failed warm-up is retried by the next page rather than cached.
    w.catch(() => {
      if (this.#warm === w) this.#warm = undefined;
    });
    return w;
  }

  /** Mark a device (or, with undefined, every device) as changed, and look at once unless a look is running. */
  #invalidate(uuid: string | undefined): void {
    if (uuid === undefined) this.#staleAll = true;
    else this.#stale.add(uuid);
    void this.#refresh().catch((e: unknown) => this.#o.log(`cannot refresh devices: ${(e as Error).message}`));
  }

  /**
   * Look at what was marked stale, and at the pools; one look at a time. What is marked while a look runs is looked
   * at when it ends, so the caller of a running look waits for that too.
   */
  #refresh(): Promise<void> {
    this.#refreshing ??= (async () => {
      try {
        while (!this.#closed && (this.#staleAll || this.#stale.size > 0)) {
          const all = this.#staleAll || this.#stale.size > this.#o.maxTargeted;
          const uuids = all ? [] : [...this.#stale];
          this.#staleAll = false;
          this.#stale.clear();
          try {
            const [devices, pools] = await Promise.all([all ? getText(this.#o.api, '/devices') : this.#devicesNamed(uuids), getJson(this.#o.api, '/parents')]);
            if (all) this.#applyAll(devices as string);
            else this.#applySome(uuids, devices as (Keyed | undefined)[]);
            const p = JSON.stringify(pools);
            if (p !== this.#pools) {
              this.#pools = p;
              this.#broadcast('pools', p);
            }
          } catch (e) {
            // Looked at again with the next event, whole: a failed look may have left any of them behind.
            this.#staleAll = true;
            throw e;
          }
        }
      } finally {
        this.#refreshing = undefined;
      }
    })();
    return this.#refreshing;
  }

  /** `GET /devices/:uuid` of each; undefined for a device that is gone. */
  #devicesNamed(uuids: readonly string[]): Promise<(Keyed | undefined)[]> {
    return Promise.all(
      uuids.map((uuid) =>
        getJson(this.#o.api, `/devices/${uuid}`).then(
          (d) => d as Keyed,
          (e: unknown) => {
            if (e instanceof UpstreamError && e.errno === 'ENODEV') return undefined;
            throw e;
          },
        ),
      ),
    );
  }

  /** `#devices` from the raw list, if that is what the hub holds. */
  #split(): void {
    if (this.#rawList === undefined) return;
    this.#devices.clear();
    for (const d of JSON.parse(this.#rawList) as Keyed[]) this.#devices.set(d.uuid, JSON.stringify(d));
    this.#rawList = undefined;
  }

  #applySome(uuids: readonly string[], found: readonly (Keyed | undefined)[]): void {
    this.#split();
    const upsert: string[] = [];
    const removed: string[] = [];
    uuids.forEach((uuid, i) => {
      const d = found[i];
      if (d === undefined) {
        if (this.#devices.delete(uuid)) removed.push(uuid);
        return;
      }
      const text = JSON.stringify(d);
      if (this.#devices.get(uuid) !== text) {
        this.#devices.set(uuid, text);
        upsert.push(text);
      }
    });
    this.#sendDevices(upsert, removed);
  }

  #applyAll(body: string): void {
    // One line, as an event's data must be: umdevd writes compact JSON with a newline after it.
    let text = body.trim();
    if (text.includes('\n')) text = JSON.stringify(JSON.parse(text));
    if (this.#viewers.size === this.#joining.size) {
      // No page takes changes: keep the text (see #rawList); a new text is a new version.
      if (text !== (this.#rawList ?? '')) {
        this.#rawList = text;
        this.#devices.clear();
        this.#serial++;
      }
      return;
    }
    this.#split();
    const list = JSON.parse(text) as Keyed[];
    const seen = new Set<string>();
    const upsert: string[] = [];
    for (const d of list) {
      seen.add(d.uuid);
      const text = JSON.stringify(d);
      if (this.#devices.get(d.uuid) !== text) {
        this.#devices.set(d.uuid, text);
        upsert.push(text);
      }
    }
    const removed: string[] = [];
    for (const uuid of this.#devices.keys()) {
      if (!seen.has(uuid)) {
        this.#devices.delete(uuid);
        removed.push(uuid);
      }
    }
    this.#sendDevices(upsert, removed);
  }

  #sendDevices(upsert: readonly string[], removed: readonly string[]): void {
    if (upsert.length > 0 || removed.length > 0) this.#broadcast('devices', `{"upsert":[${upsert.join(',')}],"removed":${JSON.stringify(removed)}}`);
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
    this.#invalidate(undefined);
    void this.#poll('/definitions', 'definitions').catch(() => undefined);
  }

  close(): void {
    this.#closed = true;
    this.#stop();
    for (const v of this.#viewers) v.end();
    this.#viewers.clear();
  }
}
