/**
 * Concepts: the two changes umdev-k8s asks of umdevd, through its API, made safe to repeat: creating a device that
 * already exists with the same parent and type is success (a retried Allocate or NodePrepareResources), and removing
 * one that is gone is success (a retried release or unprepare). Anything else is the daemon's errno.
 */
import type { ApiEndpoint } from '../../api-client/http.js';
import { apiRequest } from '../../api-client/daemon-api.js';
import { err, isUmdevError } from '../../errors.js';
import type { DeviceView } from '../../api-client/wire.js';

/** Create `uuid` as `parent`/`type`, or find it already there. */
export async function ensureDevice(ep: ApiEndpoint, parent: string, type: string, uuid: string): Promise<DeviceView> {
  try {
    return (await apiRequest(ep, 'POST', '/devices', { parent, type, uuid })) as DeviceView;
  } catch (e) {
    if (!isUmdevError(e) || e.errno !== 'EEXIST') throw e;
    const d = (await apiRequest(ep, 'GET', `/devices/${uuid}`)) as DeviceView;
    if (d.parent !== parent || d.type !== type) throw err('EEXIST', `${uuid} exists as ${d.parent}/${d.type}, not ${parent}/${type}`);
    return d;
  }
}

/** Remove `uuid`; a device already gone is fine. */
export async function dropDevice(ep: ApiEndpoint, uuid: string): Promise<void> {
  try {
    await apiRequest(ep, 'DELETE', `/devices/${uuid}`);
  } catch (e) {
    if (isUmdevError(e) && e.errno === 'ENODEV') return;
    throw e;
  }
}
