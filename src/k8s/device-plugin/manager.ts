/**
 * Concepts: the device plugin side of umdev-k8s. It keeps one `ResourcePlugin` per resource the configured types
 * resolve to (started when umdevd first shows the type), registers them all with the kubelet whenever the kubelet's
 * socket appears, and follows the kubelet's pod resources API: the IDs it lists are the device plugin's holds (with
 * the ones allocated within `releaseGraceMs`), and a slot's device that nobody holds any more is removed from umdevd
 * so its units return to the pool. Without the pod resources API nothing is released (the agent cannot tell a
 * device in use from a free one).
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { describeError, type Logger } from '../../log.js';
import type { K8sConfig, ResolvedResource } from '../config.js';
import type { DevicePluginHold } from '../inventory/holdings.js';
import type { DevicePluginEntry, Inventory } from '../inventory/inventory.js';
import type { HeldDeviceKeeper } from '../inventory/keeper.js';
import { slotId, slotUuid } from '../inventory/slots.js';
import { dropDevice } from '../umdev/ops.js';
import { KubeletSocketWatch, listPodResources, register } from './kubelet.js';
import { ResourcePlugin } from './plugin.js';

export interface DevicePluginsOptions {
  readonly kubeletPollMs?: number;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** At most this many held IDs are read from one pod resources answer. */
const MAX_HELD = 65_536;

/** Owned by the agent; `close()` stops every plugin and poller. */
export class DevicePlugins {
  readonly #cfg: K8sConfig;
  readonly #inventory: Inventory;
  readonly #keeper: HeldDeviceKeeper | undefined;
  readonly #log: Logger;
  readonly #plugins = new Map<string, ResourcePlugin>();
  readonly #startedAt = Date.now();
  #podResourcesKnown = false;
  #kubelet: KubeletSocketWatch | undefined;
  #releaseTimer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;
  #registering: Promise<void> = Promise.resolve();
  #releasing: Promise<void> = Promise.resolve();
  /** Set once the kubelet's socket has been seen; until then plugins serve but do not register. */
  #kubeletSeen = false;
  #closed = false;

  constructor(cfg: K8sConfig, inventory: Inventory, log: Logger, keeper?: HeldDeviceKeeper) {
    this.#cfg = cfg;
    this.#inventory = inventory;
    this.#keeper = keeper;
    this.#log = log.child('device-plugins');
  }

  get dir(): string {
    return path.join(this.#cfg.kubeletDir, 'device-plugins');
  }

  get plugins(): readonly ResourcePlugin[] {
    return [...this.#plugins.values()];
  }

  async start(opts: DevicePluginsOptions = {}): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o750 });
    await this.#sync();
    this.#unsubscribe = this.#inventory.watch.onChange(() => void this.#sync());
    this.#kubelet = new KubeletSocketWatch(path.join(this.dir, 'kubelet.sock'), opts.kubeletPollMs ?? 500, this.#log, () => {
      this.#kubeletSeen = true;
      return this.#registerAll();
    });
    this.#releaseTimer = setInterval(() => void this.release(), this.#cfg.podResourcesPollMs);
  }

  /** Start plugins for resources that appeared; a new one registers at once if the kubelet is there. */
  async #sync(): Promise<void> {
    for (const r of this.#inventory.devicePluginResources()) {
      if (this.#plugins.has(r.name) || this.#closed) continue;
      const p = new ResourcePlugin(
        { inventory: this.#inventory, log: this.#log, devicePluginDir: this.dir, containerSocketDir: this.#cfg.containerSocketDir },
        r,
      );
      this.#plugins.set(r.name, p);
      this.#registering = this.#registering.then(async () => {
        await p.serve();
        if (this.#kubeletSeen) await this.#register(p);
      });
    }
    await this.#registering;
  }

  /** Register `p`; a refusal or a kubelet not answering yet is retried every second until it takes. */
  async #register(p: ResourcePlugin): Promise<void> {
    if (this.#closed) return;
    try {
      await register(path.join(this.dir, 'kubelet.sock'), p.endpoint, p.resource.name);
      this.#log.info(`registered ${p.resource.name} at ${p.socketPath}`);
    } catch (e) {
      this.#log.warn(`registering ${p.resource.name} failed (retrying): ${describeError(e)}`);
      setTimeout(() => {
        this.#registering = this.#registering.then(() => this.#register(p));
      }, 1000).unref();
    }
  }

  /** The kubelet (re)started: it removed our sockets, so every plugin serves anew, then registers. */
  #registerAll(): Promise<void> {
    this.#registering = this.#registering.then(async () => {
      for (const p of this.#plugins.values()) {
        if (this.#closed) return;
        await p.serve();
        await this.#register(p);
      }
    });
    return this.#registering;
  }

  /** Read the pod resources API once: update the holds, then remove slot devices nobody holds. One at a time. */
  release(): Promise<void> {
    this.#releasing = this.#releasing.then(() => this.#release());
    return this.#releasing;
  }

  async #release(): Promise<void> {
    if (this.#closed) return;
    const held = await listPodResources(path.join(this.#cfg.kubeletDir, 'pod-resources', 'kubelet.sock'));
    if (held === undefined) {
      if (this.#podResourcesKnown) this.#log.warn('the pod resources API does not answer; dynamic devices are kept');
      this.#podResourcesKnown = false;
      return;
    }
    const first = !this.#inventory.holdings.devicePluginSynced;
    this.#podResourcesKnown = true;
    const resources = new Map(this.#inventory.devicePluginResources().map((r) => [r.name, r]));
    const listed: DevicePluginHold[] = [];
    for (const [resource, ids] of held) {
      const r = resources.get(resource);
      if (r === undefined) continue;
      const byId = new Map(this.#inventory.devicePluginList(r.name).map((e) => [e.id, e]));
      for (const id of ids) {
        if (listed.length >= MAX_HELD) break;
        const h = this.#resolve(r, byId, id);
        if (h !== undefined) listed.push(h);
      }
    }
    const now = Date.now();
    this.#inventory.holdings.podResources(listed, now, this.#cfg.releaseGraceMs);
    if (first) await this.#keeper?.check();
    // Devices of a pod that was starting while the agent restarted are not listed yet: keep them for a grace period.
    if (now - this.#startedAt < this.#cfg.releaseGraceMs) return;
    for (const p of this.#plugins.values()) {
      if (!p.resource.dynamic) continue;
      for (const e of p.entries()) {
        if (!e.slot || e.held || e.device === undefined || this.#closed) continue;
        try {
          // Checked again at the last moment: an Allocate may have taken the device during an earlier removal.
          const dropped = await this.#inventory.holdings.release(e.uuid, async () => {
            await dropDevice(this.#inventory.watch.endpoint, e.uuid);
            this.#inventory.watch.noteGone(e.uuid);
          });
          if (dropped) this.#log.info(`released ${e.uuid} (${e.id}): no pod holds it`);
        } catch (x) {
          this.#log.warn(`releasing ${e.uuid} failed: ${describeError(x)}`);
        }
      }
    }
  }

  /** A hold for `id` of resource `r` as the kubelet lists it: the slot it names, or a device by UUID. */
  #resolve(r: ResolvedResource, byId: ReadonlyMap<string, DevicePluginEntry>, id: string): DevicePluginHold | undefined {
    const e = byId.get(id);
    if (e !== undefined) return { resource: r.name, id, uuid: e.uuid, ...(e.parent === undefined ? {} : { parent: e.parent, type: e.type! }) };
    const m = /-(\d{1,4})$/.exec(id);
    if (m !== null) {
      const i = Number(m[1]);
      for (const { parent, type } of r.types) if (slotId(parent, type, i) === id) return { resource: r.name, id, uuid: slotUuid(parent, type, i), parent, type };
    }
    return UUID_RE.test(id) ? { resource: r.name, id, uuid: id } : undefined;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#unsubscribe?.();
    this.#kubelet?.close();
    if (this.#releaseTimer !== undefined) clearInterval(this.#releaseTimer);
    await this.#registering.catch(() => {});
    await this.#releasing.catch(() => {});
    for (const p of this.#plugins.values()) await p.close();
  }
}
