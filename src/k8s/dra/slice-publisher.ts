/**
 * Concepts: keeps this node's ResourceSlices in the API server equal to what the DRA driver offers. It publishes
 * after every change of the inventory (coalesced over `debounceMs`; `flush()` publishes at once and is what the
 * inventory's `settle()` awaits), after every registration with the kubelet (a starting kubelet deletes the node's
 * slices), and whenever a check every `checkMs` finds a slice missing or changed by someone else. Publishing bumps
 * the pool generation (starting above whatever the server holds, so a restarted agent's slices win), creates or
 * replaces each slice by name, then deletes slices of a larger, older count. A slice the schema check refuses is
 * never sent; that is a bug, logged at error level. When the API server stores a slice without the shared counters
 * it was sent (its DRAPartitionableDevices feature gate is off, so it drops the fields), the inventory falls back to
 * a static partition (`dra.sharedCounters: auto`) and the slices are published again without counters.
 */
import { describeError, type Logger } from '../../log.js';
import type { K8sConfig } from '../config.js';
import type { Inventory } from '../inventory/inventory.js';
import { kubeFailure, type KubeClient } from '../kube/client.js';
import { buildSlices, type ResourceSlice } from './resource-slice.js';
import { poolProblems, resourceSliceProblems } from './slice-schema.js';

const BASE = '/apis/resource.k8s.io/v1/resourceslices';

/** The slices the driver would publish now (what `--dry-run` prints). */
export function currentSlices(cfg: K8sConfig, inventory: Inventory, generation: number): ResourceSlice[] {
  return buildSlices(cfg.dra.driver, cfg.dra.nodeName, generation, inventory.dra());
}

interface StoredSlice {
  readonly metadata?: { readonly resourceVersion?: string };
  readonly spec?: { readonly pool?: { readonly generation?: number }; readonly sharedCounters?: unknown; readonly devices?: readonly { readonly consumesCounters?: unknown }[] };
}

export interface SlicePublisherOptions {
  readonly debounceMs?: number;
  readonly checkMs?: number;
}

/** Owned by the agent; `close()` stops it (the slices stay: the kubelet removes a gone node's). */
export class SlicePublisher {
  readonly #cfg: K8sConfig;
  readonly #inventory: Inventory;
  readonly #kube: KubeClient;
  readonly #log: Logger;
  readonly #debounceMs: number;
  readonly #checkMs: number;
  #generation = 0;
  #published = '';
  /** Published slices by name, with the resourceVersion the server gave each. */
  #versions = new Map<string, string | undefined>();
  #timer: NodeJS.Timeout | undefined;
  #checkTimer: NodeJS.Timeout | undefined;
  #running: Promise<void> = Promise.resolve();
  #unsubscribe: (() => void)[] = [];
  #closed = false;

  constructor(cfg: K8sConfig, inventory: Inventory, kube: KubeClient, log: Logger, opts: SlicePublisherOptions = {}) {
    this.#cfg = cfg;
    this.#inventory = inventory;
    this.#kube = kube;
    this.#log = log.child('resourceslice');
    this.#debounceMs = opts.debounceMs ?? 100;
    this.#checkMs = opts.checkMs ?? cfg.dra.sliceCheckMs;
  }

  start(): void {
    this.#unsubscribe.push(this.#inventory.onChange(() => this.#schedule()));
    this.#unsubscribe.push(this.#inventory.addSettler('dra', () => this.flush()));
    this.#checkTimer = setInterval(() => void this.#check(), this.#checkMs);
    this.#checkTimer.unref();
    this.#schedule();
  }

  /** Resolves once what is offered now has been published (or failed and was logged). */
  flush(): Promise<void> {
    this.#running = this.#running.then(() => this.#publish());
    return this.#running;
  }

  /** Publish again even if nothing changed here (the slices may be gone from the server). */
  republish(): Promise<void> {
    this.#published = '';
    return this.flush();
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, this.#debounceMs);
  }

  /** Compare the published slices with the server's; any missing or changed by someone else → publish again. */
  async #check(): Promise<void> {
    if (this.#published === '' || this.#closed) return;
    try {
      for (const [name, rv] of this.#versions) {
        const got = await this.#get(name);
        if (got === undefined || got.metadata?.resourceVersion !== rv) {
          this.#log.warn(`ResourceSlice ${name} ${got === undefined ? 'is gone' : 'was changed by someone else'}; publishing again`);
          await this.republish();
          return;
        }
      }
    } catch (e) {
      this.#log.warn(`checking ResourceSlices failed: ${describeError(e)}`);
    }
  }

  async #publish(): Promise<void> {
    if (!this.#inventory.watch.snapshot.up || this.#closed) return;
    const slices = currentSlices(this.#cfg, this.#inventory, 0);
    const content = JSON.stringify(slices.map((s) => s.spec));
    if (content === this.#published) return;
    try {
      const names = slices.map((s) => s.metadata.name);
      const existing = await Promise.all(names.map((n) => this.#get(n)));
      const generation = Math.max(this.#generation, ...existing.map((e) => e?.spec?.pool?.generation ?? 0)) + 1;
      const stamped = currentSlices(this.#cfg, this.#inventory, generation);
      if (JSON.stringify(stamped.map((s) => ({ ...s.spec, pool: { ...s.spec.pool, generation: 0 } }))) !== content) return this.#schedule();
      const problems = [...stamped.flatMap((s) => resourceSliceProblems(s).map((p) => `${s.metadata.name}: ${p}`)), ...poolProblems(stamped)];
      if (problems.length > 0) {
        this.#log.error(`not publishing ResourceSlices: ${problems.join('; ')}`);
        return;
      }
      const versions = new Map<string, string | undefined>();
      let dropped = false;
      for (const [i, s] of stamped.entries()) {
        const old = existing[i];
        const r =
          old === undefined
            ? await this.#kube.request('POST', BASE, s)
            : await this.#kube.request('PUT', `${BASE}/${s.metadata.name}`, { ...s, metadata: { ...s.metadata, resourceVersion: old.metadata?.resourceVersion } });
        if (r.status < 200 || r.status >= 300) throw kubeFailure(`writing ResourceSlice ${s.metadata.name}`, r);
        const stored = r.body as StoredSlice | undefined;
        versions.set(s.metadata.name, stored?.metadata?.resourceVersion);
        dropped ||= countersDropped(s, stored);
      }
      for (const name of this.#versions.keys()) {
        if (versions.has(name)) continue;
        const r = await this.#kube.request('DELETE', `${BASE}/${name}`);
        if (r.status !== 404 && (r.status < 200 || r.status >= 300)) throw kubeFailure(`deleting ResourceSlice ${name}`, r);
      }
      this.#generation = generation;
      this.#versions = versions;
      this.#published = content;
      this.#log.info(`published ${stamped.length} slice(s), ${stamped.reduce((n, s) => n + (s.spec.devices?.length ?? 0), 0)} devices, generation ${generation}`);
      if (dropped) this.#countersDropped();
    } catch (e) {
      this.#log.warn(`publishing ResourceSlices failed (retrying): ${describeError(e)}`);
      setTimeout(() => this.#schedule(), 2000).unref();
    }
  }

  #countersDropped(): void {
    if (this.#cfg.dra.sharedCounters === 'auto') {
      this.#log.warn('the API server dropped the shared counters (feature gate DRAPartitionableDevices off): using a static partition (pools[].draSlots)');
      this.#inventory.useStaticPartition();
    } else {
      this.#log.error('the API server dropped the shared counters (feature gate DRAPartitionableDevices off): the slices can overcommit; enable the gate or set dra.sharedCounters to "auto" or "off"');
    }
  }

  async #get(name: string): Promise<StoredSlice | undefined> {
    const r = await this.#kube.request('GET', `${BASE}/${name}`);
    if (r.status === 404) return undefined;
    if (r.status !== 200) throw kubeFailure(`reading ResourceSlice ${name}`, r);
    return r.body as StoredSlice;
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const u of this.#unsubscribe) u();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#checkTimer !== undefined) clearInterval(this.#checkTimer);
    await this.#running;
  }
}

/** True when `sent` carried counters that `stored` (the server's copy) lacks. */
function countersDropped(sent: ResourceSlice, stored: StoredSlice | undefined): boolean {
  if (sent.spec.sharedCounters !== undefined && stored?.spec?.sharedCounters === undefined) return true;
  const consumes = sent.spec.devices?.some((d) => d.consumesCounters !== undefined) ?? false;
  return consumes && !(stored?.spec?.devices?.some((d) => d.consumesCounters !== undefined) ?? false);
}
