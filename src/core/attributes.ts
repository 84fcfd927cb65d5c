/**
 * Concepts: vendor attributes as a core operation. A device's vendor attributes are named as mdevctl names them
 * in a definition, relative to the device's directory: `name` for one in the device directory itself, `group/name`
 * for one in a named group (`vendor/knob`). Groups with the same name are one directory, the first attribute of a
 * name wins, as `device-dir.ts` renders them. A write reaches the vendor's `store` with the errnos sysfs would give:
 * `ENOENT` for no such attribute, `EACCES` for a read-only one.
 */
import { err } from '../errors.js';
import type { DeviceAttrGroupSpec, DeviceAttrSpec } from './types.js';

/** The attribute `path` names among `groups`, or undefined. */
export function findDeviceAttr(groups: readonly DeviceAttrGroupSpec[], path: string): DeviceAttrSpec | undefined {
  const slash = path.indexOf('/');
  const group = slash < 0 ? undefined : path.slice(0, slash);
  const name = slash < 0 ? path : path.slice(slash + 1);
  for (const g of groups) {
    if (g.name !== group) continue;
    const a = g.attrs.find((x) => x.name === name);
    if (a !== undefined) return a;
  }
  return undefined;
}

/** The writable attribute `path` names, or the errno sysfs would answer a write with. */
export function writableDeviceAttr(groups: readonly DeviceAttrGroupSpec[], path: string, uuid: string): DeviceAttrSpec & Required<Pick<DeviceAttrSpec, 'store'>> {
  const a = findDeviceAttr(groups, path);
  if (a === undefined) throw err('ENOENT', `device ${uuid} has no vendor attribute ${path}`);
  const store = a.store;
  if ((a.mode & 0o222) === 0 || store === undefined) throw err('EACCES', `attribute ${path} of device ${uuid} is read-only`);
  return { ...a, store };
}
