/**
 * The page's picture of umdevd, fed by the live stream: devices, definitions, pools, per-device activity with a
 * short history of rates, migrations and the last events. Views subscribe and are re-rendered at most once per
 * animation frame, however many messages arrive.
 */
import type { ActivityView, CoreEvent, DefinitionView, DeviceView, MigrationView, ParentView, Snapshot } from './types.js';

/** Points of history kept per device (one a second). */
export const HISTORY = 60;
const MAX_EVENTS = 200;

/** Rates over the last second, and their recent history. */
export interface Series {
  readonly req: number[];
  readonly irq: number[];
  readonly err: number[];
  readonly dma: number[];
  last: { readonly t: number; readonly requests: number; readonly interrupts: number; readonly errors: number; readonly dmaBytes: number } | undefined;
}

/** One line of the device list: an active device, or a definition that is not active. */
export interface Row {
  readonly uuid: string;
  readonly parent: string;
  readonly type: string;
  readonly state: string;
  readonly definition: string;
  readonly device: DeviceView | undefined;
}

export type Part = 'devices' | 'pools' | 'activity' | 'migrations' | 'events' | 'connection' | 'selection';

export class Store {
  readonly devices = new Map<string, DeviceView>();
  readonly definitions = new Map<string, DefinitionView>();
  pools: ParentView[] = [];
  readonly activity = new Map<string, ActivityView>();
  readonly series = new Map<string, Series>();
  migrations: MigrationView[] = [];
  readonly events: CoreEvent[] = [];
  connected = false;
  selected: string | undefined;
  #rows: Row[] | undefined;
  readonly #listeners = new Map<Part, Set<() => void>>();
  readonly #dirty = new Set<Part>();
  #frame = 0;

  on(part: Part, fn: () => void): void {
    let s = this.#listeners.get(part);
    if (s === undefined) this.#listeners.set(part, (s = new Set()));
    s.add(fn);
  }

  /**
   * Mark parts changed; listeners run on the next animation frame, once each, however many messages arrived and
   * however many of its parts changed (a function registered for several parts runs once).
   */
  changed(...parts: Part[]): void {
    for (const p of parts) this.#dirty.add(p);
    if (parts.includes('devices')) this.#rows = undefined;
    if (this.#frame !== 0) return;
    this.#frame = requestAnimationFrame(() => {
      this.#frame = 0;
      const run = new Set<() => void>();
      for (const p of this.#dirty) for (const fn of this.#listeners.get(p) ?? []) run.add(fn);
      this.#dirty.clear();
      for (const fn of run) fn();
    });
  }

  snapshot(s: Snapshot): void {
    this.devices.clear();
    for (const d of s.devices) this.devices.set(d.uuid, d);
    this.setDefinitions(s.definitions);
    this.pools = s.pools;
    this.setActivity(s.activity);
    this.migrations = s.migrations;
    this.connected = s.connected;
    this.changed('devices', 'pools', 'activity', 'migrations', 'connection', 'selection');
  }

  applyDevices(upsert: readonly DeviceView[], removed: readonly string[]): void {
    for (const d of upsert) this.devices.set(d.uuid, d);
    for (const u of removed) {
      this.devices.delete(u);
      if (!this.definitions.has(u)) {
        this.activity.delete(u);
        this.series.delete(u);
      }
    }
    this.changed('devices', 'selection');
  }

  setDefinitions(list: readonly DefinitionView[]): void {
    this.definitions.clear();
    for (const d of list) this.definitions.set(d.uuid, d);
    this.changed('devices', 'selection');
  }

  setActivity(list: readonly ActivityView[], now = Date.now()): void {
    const seen = new Set<string>();
    for (const a of list) {
      seen.add(a.uuid);
      this.activity.set(a.uuid, a);
      const c = a.counters;
      if (c === undefined) continue;
      let s = this.series.get(a.uuid);
      if (s === undefined) this.series.set(a.uuid, (s = { req: [], irq: [], err: [], dma: [], last: undefined }));
      if (s.last !== undefined && now > s.last.t) {
        const dt = (now - s.last.t) / 1000;
        push(s.req, Math.max(0, c.requests - s.last.requests) / dt);
        push(s.irq, Math.max(0, c.interrupts - s.last.interrupts) / dt);
        push(s.err, Math.max(0, c.errors - s.last.errors) / dt);
        push(s.dma, Math.max(0, c.dmaBytes - s.last.dmaBytes) / dt);
      }
      s.last = { t: now, requests: c.requests, interrupts: c.interrupts, errors: c.errors, dmaBytes: c.dmaBytes };
    }
    for (const u of [...this.activity.keys()]) {
      if (seen.has(u)) continue;
      this.activity.delete(u);
      // A device that went quiet keeps its history, flat from now on.
      const s = this.series.get(u);
      if (s !== undefined) {
        push(s.req, 0);
        push(s.irq, 0);
        push(s.err, 0);
        push(s.dma, 0);
      }
    }
    this.changed('activity');
  }

  addEvent(e: CoreEvent): void {
    this.events.push(e);
    if (this.events.length > MAX_EVENTS) this.events.splice(0, this.events.length - MAX_EVENTS);
    this.changed('events');
  }

  /** Devices, then definitions that are not active, by UUID. Cached until the devices or definitions change. */
  rows(): readonly Row[] {
    if (this.#rows !== undefined) return this.#rows;
    const rows: Row[] = [];
    for (const d of this.devices.values()) {
      const def = this.definitions.get(d.uuid);
      rows.push({ uuid: d.uuid, parent: d.parent, type: d.type, state: d.online ? d.state : 'offline', definition: def === undefined ? '—' : def.start, device: d });
    }
    for (const def of this.definitions.values()) {
      if (!this.devices.has(def.uuid)) rows.push({ uuid: def.uuid, parent: def.parent, type: def.type, state: 'defined', definition: def.start, device: undefined });
    }
    rows.sort((a, b) => (a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0));
    this.#rows = rows;
    return rows;
  }

  /** The latest rate of `uuid` (requests/s, interrupts/s). */
  rates(uuid: string): { req: number; irq: number } {
    const s = this.series.get(uuid);
    return { req: s?.req[s.req.length - 1] ?? 0, irq: s?.irq[s.irq.length - 1] ?? 0 };
  }
}

function push(a: number[], v: number): void {
  a.push(v);
  if (a.length > HISTORY) a.shift();
}
