/** A `UmdevView` over snapshots the test sets (no daemon): for the inventory's pure tests. */
import type { DeviceView, TypeView } from '../../src/api-client/wire.js';
import type { UmdevSnapshot, UmdevView } from '../../src/k8s/umdev/watch.js';

export class StaticView implements UmdevView {
  readonly endpoint = { socket: '/nonexistent' };
  snapshot: UmdevSnapshot;
  readonly #listeners = new Set<(s: UmdevSnapshot) => void>();

  constructor(snapshot: UmdevSnapshot) {
    this.snapshot = snapshot;
  }

  set(snapshot: UmdevSnapshot): void {
    this.snapshot = snapshot;
    for (const cb of this.#listeners) cb(snapshot);
  }

  onChange(cb: (s: UmdevSnapshot) => void): () => void {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  refresh(): Promise<void> {
    return Promise.resolve();
  }

  noteDevice(view: DeviceView): void {
    this.set({ ...this.snapshot, devices: [...this.snapshot.devices.filter((d) => d.uuid !== view.uuid), view] });
  }

  noteGone(uuid: string): void {
    this.set({ ...this.snapshot, devices: this.snapshot.devices.filter((d) => d.uuid !== uuid) });
  }
}

/** mtty's two types with `free` ports left (24 in a whole pool). */
export function mttyTypes(free = 24): TypeView[] {
  return [
    { parent: 'mtty', id: 'mtty-1', name: 'Single port serial', deviceApi: 'vfio-pci', availableInstances: free },
    { parent: 'mtty', id: 'mtty-2', name: 'Dual port serial', deviceApi: 'vfio-pci', availableInstances: Math.floor(free / 2) },
  ];
}

/** An active device view. */
export function device(uuid: string, parent: string, type: string): DeviceView {
  return { uuid, name: uuid, parent, type, state: 'active', online: true, iommuGroup: 0, driver: 'vfio-user', openCount: 0, socket: `/run/${uuid}.sock` };
}
