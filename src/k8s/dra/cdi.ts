/**
 * Concepts: Container Device Interface specs for prepared claims. One spec file per claim,
 * `<cdiDir>/<driver>-<claim uid>.json`, kind `<driver>/vfio-user`, one CDI device per claimed device that
 * bind-mounts its vfio-user socket at `<containerDir>/<uuid>.sock` and sets `UMDEV_SOCKET_<UUID>` to that path and
 * `UMDEV_DEVICE_<NAME>` to the UUID. The container runtime reads the spec when the kubelet passes the returned CDI
 * ids. Files are written whole with mode 0644 (`files.ts`), so a runtime never reads half a spec.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { envName } from '../device-plugin/allocation.js';

export const CDI_VERSION = '0.6.0';

/** A claimed device as CDI sees it. */
export interface CdiDevice {
  /** Unique within the spec: `<claim uid>-<device name>`. */
  readonly name: string;
  readonly deviceName: string;
  readonly uuid: string;
  readonly socket: string;
}

/** The CDI kind (`vendor/class`) of the driver's devices. */
export function cdiKind(driver: string): string {
  return `${driver}/vfio-user`;
}

/** A fully qualified CDI device id: `<kind>=<name>`. */
export function cdiId(driver: string, name: string): string {
  return `${cdiKind(driver)}=${name}`;
}

export function cdiSpecPath(cdiDir: string, driver: string, claimUid: string): string {
  return path.join(cdiDir, `${driver}-${claimUid}.json`);
}

/** The spec document for one claim's devices. */
export function cdiSpec(driver: string, containerDir: string, devices: readonly CdiDevice[]): object {
  return {
    cdiVersion: CDI_VERSION,
    kind: cdiKind(driver),
    devices: devices.map((d) => {
      const inside = path.posix.join(containerDir, `${d.uuid}.sock`);
      return {
        name: d.name,
        containerEdits: {
          env: [`UMDEV_SOCKET_${envName(d.uuid)}=${inside}`, `UMDEV_DEVICE_${envName(d.deviceName)}=${d.uuid}`],
          mounts: [{ hostPath: d.socket, containerPath: inside, options: ['bind'] }],
        },
      };
    }),
  };
}

/** Remove a claim's spec; one already gone is fine. */
export async function removeCdiSpec(cdiDir: string, driver: string, claimUid: string): Promise<void> {
  await rm(cdiSpecPath(cdiDir, driver, claimUid), { force: true });
}
