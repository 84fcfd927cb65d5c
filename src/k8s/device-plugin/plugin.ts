/**
 * Concepts: one kubelet device plugin (API v1beta1) for one resource, e.g. `umdev.io/mtty-mtty-2`. It serves the
 * `DevicePlugin` service on its own socket in the kubelet's device-plugins dir; the kubelet calls back there once
 * the manager has registered it. `ListAndWatch` sends what the inventory lists for the resource whenever that
 * changes: every device is `Unhealthy` while umdevd is gone, and a held device whose device is gone stays listed
 * `Unhealthy` until it is back or the pod lets go. `Allocate` checks every ID before it records anything (an ID the
 * resource does not list now fails the whole call with `ENODEV`), holds them in the shared record, creates the
 * devices slots lack (a held slot whose device is gone too), waits until the devices are withdrawn from the DRA
 * driver, and answers with their sockets.
 */
import type { Server, ServerUnaryCall, ServerWritableStream, sendUnaryData } from '@grpc/grpc-js';
import path from 'node:path';
import { err } from '../../errors.js';
import { describeError, type Logger } from '../../log.js';
import type { ResolvedResource } from '../config.js';
import type { DevicePluginEntry, Inventory } from '../inventory/inventory.js';
import { grpcError, serveUnix, shutdown } from '../kubelet-api/grpc-unix.js';
import type {
  AllocateRequest,
  AllocateResponse,
  ListAndWatchResponse,
  PluginDevice,
  PreferredAllocationRequest,
  PreferredAllocationResponse,
} from '../kubelet-api/messages.js';
import { DEVICE_PLUGIN } from '../kubelet-api/protos.js';
import { toDnsLabel } from '../names.js';
import { ensureDevice } from '../umdev/ops.js';
import { containerAllocation, preferredAllocation, type GrantedDevice } from './allocation.js';

/** At most this many device IDs in one Allocate or GetPreferredAllocation (a pod asks for a handful). */
export const MAX_REQUEST_IDS = 1024;
/** At most this many containers in one request. */
const MAX_CONTAINERS = 256;

/** What a plugin shares with its manager. */
export interface PluginHost {
  readonly inventory: Inventory;
  readonly log: Logger;
  readonly devicePluginDir: string;
  readonly containerSocketDir: string;
}

/** An ID as it may appear in a message: at most 64 characters of it. */
function shown(id: string): string {
  return JSON.stringify(id.length > 64 ? `${id.slice(0, 64)}…` : id);
}

/** Owned by the device plugin manager; `close()` stops serving. */
export class ResourcePlugin {
  readonly resource: ResolvedResource;
  readonly socketPath: string;
  readonly #host: PluginHost;
  readonly #log: Logger;
  readonly #streams = new Set<() => void>();
  #server: Server | undefined;

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

  /** What the inventory lists for this resource now. */
  entries(): readonly DevicePluginEntry[] {
    return this.#host.inventory.devicePluginList(this.resource.name);
  }

  /** The list ListAndWatch sends now. */
  list(): PluginDevice[] {
    return this.entries().map((e) => ({ ID: e.id, health: e.healthy ? 'Healthy' : 'Unhealthy' }));
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
          GetPreferredAllocation: (call: ServerUnaryCall<PreferredAllocationRequest, unknown>, cb: sendUnaryData<PreferredAllocationResponse>) => {
            try {
              cb(null, this.#preferred(call.request));
            } catch (e) {
              cb(grpcError(e));
            }
          },
          Allocate: (call: ServerUnaryCall<AllocateRequest, unknown>, cb: sendUnaryData<AllocateResponse>) => {
            this.allocate(call.request).then(
              (r) => cb(null, r),
              (e: unknown) => {
                this.#log.debug(`Allocate refused: ${describeError(e)}`);
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
      call.write({ devices });
    };
    const unsubscribe = this.#host.inventory.onChange(send);
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
    checkSize(req.container_requests.length, req.container_requests.reduce((n, c) => n + c.available_deviceIDs.length + c.must_include_deviceIDs.length, 0));
    const parents = new Map(this.entries().map((d) => [d.id, d.parent]));
    return { container_responses: req.container_requests.map((c) => ({ deviceIDs: preferredAllocation(c, (id) => parents.get(id)) })) };
  }

  /** Answer an Allocate: check every ID, hold them, create what is a free slot, then mount every device's socket. */
  async allocate(req: AllocateRequest): Promise<AllocateResponse> {
    checkSize(req.container_requests.length, req.container_requests.reduce((n, c) => n + c.devices_ids.length, 0));
    const inv = this.#host.inventory;
    const listed = new Map(this.entries().map((e) => [e.id, e]));
    const wanted: DevicePluginEntry[] = [];
    const seen = new Set<string>();
    for (const c of req.container_requests) {
      for (const id of c.devices_ids) {
        if (seen.has(id)) continue;
        seen.add(id);
        const e = listed.get(id);
        if (e === undefined) throw err('ENODEV', `${this.resource.name} has no device ${shown(id)} to give out`);
        // An unhealthy entry is allocated too: a slot whose device is gone is created again (umdevd's errno if not).
        wanted.push(e);
      }
    }
    // Held before the first await: a DRA prepare that starts now sees these devices taken.
    const undo = inv.holdings.allocate(
      wanted.map((e) => ({ resource: this.resource.name, id: e.id, uuid: e.uuid, ...(e.parent === undefined ? {} : { parent: e.parent }), ...(e.type === undefined ? {} : { type: e.type }) })),
      Date.now(),
    );
    const granted = new Map<string, GrantedDevice>();
    try {
      for (const e of wanted) {
        let view = e.device;
        const releasing = inv.holdings.releasing(e.uuid);
        if (releasing !== undefined) {
          // Being removed as nobody held it a moment ago: let the removal end, then create it again.
          await releasing;
          view = undefined;
        }
        if (view === undefined) {
          if (e.parent === undefined || e.type === undefined) throw err('ENODEV', `device ${e.uuid} is gone`);
          view = await ensureDevice(inv.watch.endpoint, e.parent, e.type, e.uuid);
          inv.watch.noteDevice(view);
          this.#log.info(`created ${e.uuid} (${e.parent}/${e.type}) for ${e.id}`);
        }
        if (view.socket === undefined) throw err('EIO', `device ${view.uuid} has no vfio-user socket`);
        granted.set(e.id, { uuid: view.uuid, socket: view.socket });
      }
    } catch (e) {
      undo();
      throw e;
    }
    // Withdrawn from the DRA driver (slice republished) before the kubelet hears the answer.
    await inv.settle('device-plugin');
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

/** `EINVAL` before any work for a request larger than any pod makes. */
function checkSize(containers: number, ids: number): void {
  if (containers > MAX_CONTAINERS) throw err('EINVAL', `${containers} container requests; at most ${MAX_CONTAINERS}`);
  if (ids > MAX_REQUEST_IDS) throw err('EINVAL', `${ids} device IDs in one request; at most ${MAX_REQUEST_IDS}`);
}
