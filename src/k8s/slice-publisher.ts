/**
 * Concepts: keeps this node's ResourceSlices in the API server equal to what the DRA driver offers. After every
 * change of umdevd's view (coalesced over `debounceMs`) it builds the slices; when their devices differ from the last
 * published ones it bumps the pool generation (starting above whatever the server holds, so a restarted agent's
 * slices win) and creates or replaces each slice by name, then deletes slices of a larger, older count. A slice the
 * schema check refuses is never sent; that is a bug, logged at error level.
 */
import { describeError, type Logger } from '../log.js';
import { kubeFailure, type KubeClient } from './kube-client.js';
import { buildSlices, offeredForDra, type ResourceSlice } from './resource-slice.js';
import { resourceSliceProblems } from './slice-schema.js';
import type { SlotIndex } from './inventory.js';
import type { K8sConfig } from './config.js';
import type { UmdevWatch } from './umdev-watch.js';

const BASE = '/apis/resource.k8s.io/v1/resourceslices';

/** The slices the driver would publish now (what `--dry-run` prints), validated. */
export function currentSlices(cfg: K8sConfig, watch: UmdevWatch, slots: SlotIndex, generation: number): ResourceSlice[] {
  const snap = watch.snapshot;
  return buildSlices(cfg.dra.driver, cfg.dra.nodeName, generation, snap, offeredForDra(cfg, snap, slots));
}

export class SlicePublisher {
  readonly #cfg: K8sConfig;
  readonly #watch: UmdevWatch;
  readonly #slots: SlotIndex;
  readonly #kube: KubeClient;
  readonly #log: Logger;
  readonly #debounceMs: number;
  #generation = 0;
  #published = '';
  #names: string[] = [];
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> = Promise.resolve();
  #unsubscribe: (() => void) | undefined;

  constructor(cfg: K8sConfig, watch: UmdevWatch, slots: SlotIndex, kube: KubeClient, log: Logger, debounceMs = 100) {
    this.#cfg = cfg;
    this.#watch = watch;
    this.#slots = slots;
    this.#kube = kube;
    this.#log = log.child('resourceslice');
    this.#debounceMs = debounceMs;
  }

  start(): void {
    this.#unsubscribe = this.#watch.onChange(() => this.#schedule());
    this.#schedule();
  }

  /** Resolves once what is offered now has been published (or failed and was logged). */
  flush(): Promise<void> {
    this.#running = this.#running.then(() => this.#publish());
    return this.#running;
  }

  #schedule(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, this.#debounceMs);
  }

  async #publish(): Promise<void> {
    if (!this.#watch.snapshot.up) return;
    const slices = currentSlices(this.#cfg, this.#watch, this.#slots, 0);
    const content = JSON.stringify(slices.map((s) => s.spec.devices));
    if (content === this.#published) return;
    try {
      const existing = await Promise.all(slices.map((s) => this.#get(s.metadata.name)));
      const generation = Math.max(this.#generation, ...existing.map((e) => e?.spec?.pool?.generation ?? 0)) + 1;
      const stamped = currentSlices(this.#cfg, this.#watch, this.#slots, generation);
      if (JSON.stringify(stamped.map((s) => s.spec.devices)) !== content) return this.#schedule();
      for (const [i, s] of stamped.entries()) {
        const problems = resourceSliceProblems(s);
        if (problems.length > 0) {
          this.#log.error(`not publishing ${s.metadata.name}: ${problems.join('; ')}`);
          return;
        }
        const old = existing[i];
        const r =
          old === undefined
            ? await this.#kube.request('POST', BASE, s)
            : await this.#kube.request('PUT', `${BASE}/${s.metadata.name}`, { ...s, metadata: { ...s.metadata, resourceVersion: old.metadata?.resourceVersion } });
        if (r.status < 200 || r.status >= 300) throw kubeFailure(`writing ResourceSlice ${s.metadata.name}`, r);
      }
      for (const name of this.#names.slice(stamped.length)) {
        const r = await this.#kube.request('DELETE', `${BASE}/${name}`);
        if (r.status !== 404 && (r.status < 200 || r.status >= 300)) throw kubeFailure(`deleting ResourceSlice ${name}`, r);
      }
      this.#generation = generation;
      this.#names = stamped.map((s) => s.metadata.name);
      this.#published = content;
      this.#log.info(`published ${stamped.length} slice(s), ${stamped.reduce((n, s) => n + s.spec.devices.length, 0)} devices, generation ${generation}`);
    } catch (e) {
      this.#log.warn(`publishing ResourceSlices failed (retrying): ${describeError(e)}`);
      setTimeout(() => this.#schedule(), 2000).unref();
    }
  }

  async #get(name: string): Promise<{ metadata?: { resourceVersion?: string }; spec?: { pool?: { generation?: number } } } | undefined> {
    const r = await this.#kube.request('GET', `${BASE}/${name}`);
    if (r.status === 404) return undefined;
    if (r.status !== 200) throw kubeFailure(`reading ResourceSlice ${name}`, r);
    return r.body as { metadata?: { resourceVersion?: string } };
  }

  async close(): Promise<void> {
    this.#unsubscribe?.();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    await this.#running;
  }
}
