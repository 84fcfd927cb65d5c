/**
 * Concepts: one kubelet device plugin (API v1beta1) for one resource, e.g. `umdev.io/mtty-mtty-2`. It serves the
 * `DevicePlugin` service on its own socket in the kubelet's device-plugins dir; the kubelet calls back there once
 * the manager has registered it. `ListAndWatch` sends the resource's devices (see `inventory.ts`) whenever the list
 * or a health changes: every device is `Unhealthy` while umdevd is gone, and a device removed while the kubelet
 * still holds it for a pod stays listed `Unhealthy` until the kubelet lets go. `Allocate` creates free slots' devices
 * and answers with their sockets (see `allocation.ts`).
 */
import type { ServerUnaryCall, ServerWritableStream, Server, sendUnaryData } from '@grpc/grpc-js';
import path from 'node:path';
import { err } from '../errors.js';
import { describeError, type Logger } from '../log.js';
import { containerAllocation, preferredAllocation, type GrantedDevice } from './allocation.js';
import type { ResolvedResource } from './config.js';
import { grpcError, serveUnix, shutdown } from './grpc-unix.js';
import type { OfferedDevice, SlotIndex } from './inventory.js';
import type {
  AllocateRequest,
  AllocateResponse,
  ListAndWatchResponse,
  PluginDevice,
  PreferredAllocationRequest,
  PreferredAllocationResponse,
} from './messages.js';
import { toDnsLabel } from './names.js';
import { DEVICE_PLUGIN } from './protos.js';
import { ensureDevice } from './umdev-ops.js';
import type { UmdevWatch } from './umdev-watch.js';

/** What a plugin shares with its manager. */
export interface PluginHost {
  readonly watch: UmdevWatch;
  readonly slots: SlotIndex;
  readonly log: Logger;
  readonly devicePluginDir: string;
  readonly containerSocketDir: string;
  /** IDs of `resource` the kubelet lists for running pods (pod resources API), as last seen. */
  held(resource: string): ReadonlySet<string>;
  /** Called when IDs of `resource` were allocated (so a dynamic device is not released while the pod starts). */
  allocated(resource: string, ids: readonly string[]): void;
}

/** Owned by the device plugin manager; `close()` stops serving. */
export class ResourcePlugin {
  readonly resource: ResolvedResource;
  readonly socketPath: string;
  readonly #host: PluginHost;
  readonly #log: Logger;
  readonly #streams = new Set<() => void>();
  #server: Server | undefined;
  /** IDs sent in the last list, so a vanished one that is still held can be reported unhealthy. */
  #listed = new Set<string>();

  constructor(host: PluginHost, resource: ResolvedResource) {
    this.#host = host;
    this.resource = resource;
    this.socketPath = path.join(host.devicePluginDir, `umdev-${toDnsLabel(resource.name, 80)}.sock`);
    this.#log = host.log.child(`device-plugin ${resource.name}`);
  }

  /** The file name the kubelet is told (relative to its device-plugins dir). */
  get endpoint(): string {
    return path.basename(this.socketPath);
  }

  /** The resource's devices now. */
  offered(): OfferedDevice[] {
    const snap = this.#host.watch.snapshot;
    return this.resource.types.flatMap(({ parent, type }) => {
      const t = snap.types.find((x) => x.parent === parent && x.id === type);
      return t === undefined ? [] : this.#host.slots.offer(snap, t, this.resource.dynamic);
    });
  }

  /** The list ListAndWatch sends now. */
  list(): PluginDevice[] {
    const up = this.#host.watch.snapshot.up;
    const health = up ? 'Healthy' : 'Unhealthy';
    const out: PluginDevice[] = this.offered().map((d) => ({ ID: d.id, health }));
    const now = new Set(out.map((d) => d.ID));
    const held = this.#host.held(this.resource.name);
    for (const id of this.#listed) if (!now.has(id) && held.has(id)) out.push({ ID: id, health: 'Unhealthy' });
    return out;
  }

  /** (Re)start serving on the socket; streams of an earlier server end, and the kubelet opens new ones. */
  async serve(): Promise<void> {
    await this.#stop();
    this.#server = await serveUnix(this.socketPath, [
      [
        DEVICE_PLUGIN,
        {
          GetDevicePluginOptions: (_c: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) =>
            cb(null, { pre_start_required: false, get_preferred_allocation_available: true }),
          ListAndWatch: (call: ServerWritableStream<unknown, ListAndWatchResponse>) => this.#listAndWatch(call),
          GetPreferredAllocation: (call: ServerUnaryCall<PreferredAllocationRequest, unknown>, cb: sendUnaryData<PreferredAllocationResponse>) =>
            cb(null, this.#preferred(call.request)),
          Allocate: (call: ServerUnaryCall<AllocateRequest, unknown>, cb: sendUnaryData<AllocateResponse>) => {
            this.allocate(call.request).then(
              (r) => cb(null, r),
              (e: unknown) => {
                this.#log.warn(`Allocate failed: ${describeError(e)}`);
                cb(grpcError(e));
              },
            );
          },
          PreStartContainer: (_c: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) => cb(null, {}),
        },
      ],
    ]);
  }

  #listAndWatch(call: ServerWritableStream<unknown, ListAndWatchResponse>): void {
    let last = '';
    const send = (): void => {
      const devices = this.list();
      const text = JSON.stringify(devices);
      if (text === last) return;
      last = text;
      this.#listed = new Set(devices.map((d) => d.ID));
      call.write({ devices });
    };
    const unsubscribe = this.#host.watch.onChange(send);
    const end = (): void => {
      unsubscribe();
      this.#streams.delete(end);
      if (!call.writableEnded) call.end();
    };
    this.#streams.add(end);
    call.on('cancelled', end);
    call.on('close', end);
    call.on('error', end);
    send();
  }

  #preferred(req: PreferredAllocationRequest): PreferredAllocationResponse {
    const parents = new Map(this.offered().map((d) => [d.id, d.parent]));
    return { container_responses: req.container_requests.map((c) => ({ deviceIDs: preferredAllocation(c, (id) => parents.get(id)) })) };
  }

  /** Answer an Allocate: create what is a free slot, then mount every device's socket. */
  async allocate(req: AllocateRequest): Promise<AllocateResponse> {
    const ids = req.container_requests.flatMap((c) => c.devices_ids);
    this.#host.allocated(this.resource.name, ids);
    const offered = new Map(this.offered().map((d) => [d.id, d]));
    const granted = new Map<string, GrantedDevice>();
    let created = false;
    for (const id of new Set(ids)) {
      const d = offered.get(id);
      if (d === undefined) throw err('ENODEV', `${this.resource.name} has no device ${JSON.stringify(id)}`);
      let view = d.device;
      if (view === undefined) {
        view = await ensureDevice(this.#host.watch.endpoint, d.parent, d.type, d.uuid);
        created = true;
        this.#log.info(`created ${d.uuid} (${d.parent}/${d.type}) for slot ${id}`);
      }
      if (view.socket === undefined) throw err('EIO', `device ${view.uuid} has no vfio-user socket`);
      granted.set(id, { uuid: view.uuid, socket: view.socket });
    }
    // The kubelet reads the new list before its next allocation; without this it could see the taken slot as free.
    if (created) await this.#host.watch.refresh();
    return {
      container_responses: req.container_requests.map((c) =>
        containerAllocation(this.resource.name, this.#host.containerSocketDir, c.devices_ids.map((id) => granted.get(id)!)),
      ),
    };
  }

  async #stop(): Promise<void> {
    for (const end of [...this.#streams]) end();
    const s = this.#server;
    this.#server = undefined;
    if (s !== undefined) await shutdown(s);
  }

  async close(): Promise<void> {
    await this.#stop();
  }
}
