/**
 * Concepts: the JSON shapes the control API answers with (`src/api-client/wire.ts`), rendered from core objects on
 * every request (the API keeps no copy of core state).
 */
import type { Core, MdevDevice, MdevType, Parent } from '../../core/index.js';
import { toUmdevError } from '../../errors.js';
import type { DeviceView, ParentView, TypeView } from '../../api-client/wire.js';

export type { DeviceView, ParentView, TypeView } from '../../api-client/wire.js';

export function typeView(core: Core, t: MdevType): TypeView {
  let availableInstances: number | null;
  let availableError: string | undefined;
  try {
    availableInstances = core.availableInstances(t);
  } catch (e) {
    availableInstances = null;
    availableError = toUmdevError(e).errno;
  }
  const description = t.description?.();
  return {
    parent: t.parent.name,
    id: t.id,
    name: t.name,
    deviceApi: t.deviceApi,
    ...(description === undefined ? {} : { description }),
    availableInstances,
    ...(availableError === undefined ? {} : { availableError }),
  };
}

export function parentView(core: Core, p: Parent): ParentView {
  return {
    name: p.name,
    devicePath: p.devicePath,
    driver: p.driverName,
    deviceApi: p.deviceApi,
    unregistering: p.unregistering,
    hasReset: p.hasReset,
    hasOnline: p.hasOnline,
    types: p.types.map((t) => typeView(core, t)),
  };
}

export function deviceView(d: MdevDevice, socket: string | undefined): DeviceView {
  return {
    uuid: d.uuid,
    name: d.name,
    parent: d.parent.name,
    type: d.type.id,
    state: d.state,
    online: d.online,
    iommuGroup: d.iommuGroup ?? null,
    driver: d.driver ?? null,
    openCount: d.openCount,
    ...(d.instance === undefined ? {} : { instance: d.instance }),
    ...(d.params === undefined ? {} : { params: d.params }),
    ...(socket === undefined ? {} : { socket }),
  };
}
