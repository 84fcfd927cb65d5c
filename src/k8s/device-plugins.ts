/**
 * Concepts: the device plugin side of umdev-k8s. It keeps one `ResourcePlugin` per resource the configured types
 * resolve to (started when umdevd first shows the type), registers them all with the kubelet whenever the kubelet's
 * socket appears, and releases dynamic devices: a slot's device that the kubelet's pod resources API no longer lists,
 * and that was not allocated within `releaseGraceMs`, is removed from umdevd so its instance returns to the pool.
 * Without the pod resources API nothing is released (the agent cannot tell a device in use from a free one).
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { describeError, type Logger } from '../log.js';
import { resolveResources, type K8sConfig } from './config.js';
import { ResourcePlugin } from './device-plugin.js';
import type { SlotIndex } from './inventory.js';
import { KubeletSocketWatch, listPodResources, register } from './kubelet.js';
import { dropDevice } from './umdev-ops.js';
import type { UmdevWatch } from './umdev-watch.js';

export interface DevicePluginsOptions {
  readonly kubeletPollMs?: number;
}

/** Owned by the agent; `close()` stops every plugin and poller. */
export class DevicePlugins {
  readonly #cfg: K8sConfig;
  readonly #watch: UmdevWatch;
  readonly #slots: SlotIndex;
  readonly #log: Logger;
  readonly #plugins = new Map<string, ResourcePlugin>();
  readonly #allocatedAt = new Map<string, number>();
  readonly #startedAt = Date.now();
  #held = new Map<string, Set<string>>();
  #podResourcesKnown = false;
  #kubelet: KubeletSocketWatch | undefined;
  #releaseTimer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;
  #registering: Promise<void> = Promise.resolve();
  /** Set once the kubelet's socket has been seen; until then plugins serve but do not register. */
  #kubeletSeen = false;
  #closed = false;

  constructor(cfg: K8sConfig, watch: UmdevWatch, slots: SlotIndex, log: Logger) {
    this.#cfg = cfg;
    this.#watch = watch;
    this.#slots = slots;
    this.#log = log.child('device-plugins');
  }

  get dir(): string {
    return path.join(this.#cfg.kubeletDir, 'device-plugins');
  }

  get plugins(): readonly ResourcePlugin[] {
    return [...this.#plugins.values()];
  }

  async start(opts: DevicePluginsOptions = {}): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await this.#sync();
    this.#unsubscribe = this.#watch.onChange(() => void this.#sync());
    this.#kubelet = new KubeletSocketWatch(path.join(this.dir, 'kubelet.sock'), opts.kubeletPollMs ?? 500, this.#log, () => {
      this.#kubeletSeen = true;
      return this.#registerAll();
    });
    this.#releaseTimer = setInterval(() => void this.#release(), this.#cfg.podResourcesPollMs);
  }

  /** Start plugins for resources that appeared; a new one registers at once if the kubelet is there. */
  async #sync(): Promise<void> {
    const resources = resolveResources(this.#cfg, this.#watch.snapshot.types);
    for (const r of resources) {
      if (this.#plugins.has(r.name) || this.#closed) continue;
      const host = {
        watch: this.#watch,
        slots: this.#slots,
        log: this.#log,
        devicePluginDir: this.dir,
        containerSocketDir: this.#cfg.containerSocketDir,
        held: (name: string) => this.#held.get(name) ?? new Set<string>(),
        allocated: (name: string, ids: readonly string[]) => {
          for (const id of ids) this.#allocatedAt.set(`${name}\0${id}`, Date.now());
        },
      };
      const p = new ResourcePlugin(host, r);
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

  async #release(): Promise<void> {
    const held = await listPodResources(path.join(this.#cfg.kubeletDir, 'pod-resources', 'kubelet.sock'));
    if (held === undefined) {
      if (this.#podResourcesKnown) this.#log.warn('the pod resources API does not answer; dynamic devices are kept');
      this.#podResourcesKnown = false;
      return;
    }
    this.#podResourcesKnown = true;
    this.#held = held;
    const now = Date.now();
    for (const p of this.#plugins.values()) {
      if (!p.resource.dynamic) continue;
      const inUse = held.get(p.resource.name) ?? new Set<string>();
      for (const d of p.offered()) {
        if (!d.slot || d.device === undefined || inUse.has(d.id)) continue;
        const since = this.#allocatedAt.get(`${p.resource.name}\0${d.id}`) ?? this.#startedAt;
        if (now - since < this.#cfg.releaseGraceMs) continue;
        try {
          await dropDevice(this.#watch.endpoint, d.uuid);
          this.#allocatedAt.delete(`${p.resource.name}\0${d.id}`);
          this.#log.info(`released ${d.uuid} (slot ${d.id}): no pod holds it`);
        } catch (e) {
          this.#log.warn(`releasing ${d.uuid} failed: ${describeError(e)}`);
        }
      }
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#unsubscribe?.();
    this.#kubelet?.close();
    if (this.#releaseTimer !== undefined) clearInterval(this.#releaseTimer);
    await this.#registering.catch(() => {});
    for (const p of this.#plugins.values()) await p.close();
  }
}
