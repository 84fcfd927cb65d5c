/**
 * Concepts: the pure parts of the device plugin's answers. `containerAllocation` says what a container gets for its
 * devices: each device's vfio-user socket bind-mounted at `<containerDir>/<uuid>.sock`, `UMDEV_DEVICE_<RESOURCE>`
 * listing the UUIDs (as KubeVirt's `MDEV_PCI_RESOURCE_<NAME>` does for kernel mdevs) and `UMDEV_SOCKET_<UUID>` giving
 * each one's path in the container. `preferredAllocation` keeps a pod's devices on one parent when it can.
 */
import path from 'node:path';
import type { ContainerAllocateResponse, ContainerPreferredAllocationRequest } from '../kubelet-api/messages.js';

/** An environment variable name from free text: upper case, other characters `_`. */
export function envName(text: string): string {
  return text.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/** A device a container receives: its UUID and the host path of its socket. */
export interface GrantedDevice {
  readonly uuid: string;
  readonly socket: string;
}

/** Mounts and environment for one container's devices of `resource`. */
export function containerAllocation(resource: string, containerDir: string, devices: readonly GrantedDevice[]): ContainerAllocateResponse {
  const envs: Record<string, string> = { [`UMDEV_DEVICE_${envName(resource)}`]: devices.map((d) => d.uuid).join(',') };
  const mounts = devices.map((d) => {
    const inside = path.posix.join(containerDir, `${d.uuid}.sock`);
    envs[`UMDEV_SOCKET_${envName(d.uuid)}`] = inside;
    return { container_path: inside, host_path: d.socket, read_only: false };
  });
  return { envs, mounts };
}

/**
 * `allocation_size` IDs from `available_deviceIDs`, including `must_include_deviceIDs`, taken first from the parent
 * that already holds the must-include devices (or else the one with the most candidates), then from the next
 * fullest parents only if one is not enough. `parentOf` maps an ID to its parent (unknown IDs sort last).
 */
export function preferredAllocation(req: ContainerPreferredAllocationRequest, parentOf: (id: string) => string | undefined): string[] {
  const size = Math.max(0, req.allocation_size);
  const chosen = [...new Set(req.must_include_deviceIDs)].slice(0, size);
  const taken = new Set(chosen);
  const byParent = new Map<string, string[]>();
  for (const id of req.available_deviceIDs) {
    if (taken.has(id)) continue;
    const p = parentOf(id) ?? '\uffff';
    let list = byParent.get(p);
    if (list === undefined) byParent.set(p, (list = []));
    list.push(id);
  }
  const anchor = chosen.map(parentOf).find((p) => p !== undefined);
  const order = [...byParent.keys()].sort((a, b) => {
    if (a === anchor) return -1;
    if (b === anchor) return 1;
    return byParent.get(b)!.length - byParent.get(a)!.length || (a < b ? -1 : 1);
  });
  for (const p of order) {
    for (const id of byParent.get(p)!) {
      if (chosen.length >= size) return chosen;
      chosen.push(id);
    }
  }
  return chosen;
}
