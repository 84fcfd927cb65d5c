/**
 * Concepts: validation of what a vendor passes to `registerParent`. Everything is checked before anything is
 * registered, so a bad spec leaves no trace (`EINVAL`). Names become sysfs directory entries, so they must be
 * usable as one path component.
 */
import { err } from '../errors.js';
import type { ParentSpec } from './types.js';

/** A usable sysfs entry name: non-empty, at most 255 bytes, not `.`/`..`, no `/`, NUL or whitespace. */
export function isEntryName(name: unknown): name is string {
  return (
    typeof name === 'string' &&
    name.length > 0 &&
    Buffer.byteLength(name) <= 255 &&
    name !== '.' &&
    name !== '..' &&
    !/[/\0\s]/.test(name)
  );
}

function fail(message: string): never {
  throw err('EINVAL', `registerParent: ${message}`);
}

/** Throw `EINVAL` naming the first problem of `spec`. */
export function validateParentSpec(spec: ParentSpec<unknown>): void {
  if (spec === null || typeof spec !== 'object') fail('spec must be an object');
  if (!isEntryName(spec.name)) fail(`bad parent name ${JSON.stringify(spec.name)}`);
  if (typeof spec.devicePath !== 'string' || spec.devicePath.startsWith('/')) {
    fail(`devicePath must be relative to /sys/devices`);
  }
  const segments = spec.devicePath.split('/');
  if (!segments.every(isEntryName)) fail(`bad devicePath ${JSON.stringify(spec.devicePath)}`);
  if (segments[segments.length - 1] !== spec.name) {
    fail(`the basename of devicePath ${JSON.stringify(spec.devicePath)} must be the parent name ${JSON.stringify(spec.name)}`);
  }
  if (!isEntryName(spec.driverName)) fail(`bad driverName ${JSON.stringify(spec.driverName)}`);
  // As mdev_register_driver, which refuses a NULL device_api.
  if (typeof spec.deviceApi !== 'string' || spec.deviceApi.length === 0 || /[\n\0]/.test(spec.deviceApi)) {
    fail('deviceApi is required');
  }
  if (spec.maxInstances !== undefined && !(Number.isSafeInteger(spec.maxInstances) && spec.maxInstances >= 0)) {
    fail(`maxInstances must be a non-negative integer`);
  }
  const ops = spec.ops;
  if (ops === null || typeof ops !== 'object') fail('ops are required');
  if (typeof ops.create !== 'function' || typeof ops.remove !== 'function') fail('ops.create and ops.remove are required');
  // A device that can be started must be stoppable, or removal could not take it offline.
  if ((typeof ops.start === 'function') !== (typeof ops.stop === 'function')) fail('ops.start and ops.stop go together');
  if ((typeof ops.startGroup === 'function') !== (typeof ops.stopGroup === 'function')) {
    fail('ops.startGroup and ops.stopGroup go together');
  }
  if (!Array.isArray(spec.types) || spec.types.length === 0) fail('at least one type is required');
  const ids = new Set<string>();
  for (const t of spec.types) {
    if (t === null || typeof t !== 'object' || !isEntryName(t.sysfsName)) fail(`bad type name ${JSON.stringify(t?.sysfsName)}`);
    if (t.prettyName !== undefined && typeof t.prettyName !== 'string') fail(`bad prettyName of type ${t.sysfsName}`);
    if (t.description !== undefined && typeof t.description !== 'function') fail(`description of type ${t.sysfsName} must be a function`);
    const id = `${spec.driverName}-${t.sysfsName}`;
    if (ids.has(id)) fail(`duplicate type ${id}`);
    ids.add(id);
  }
  const groups = new Set<string>();
  for (const g of spec.deviceAttributes ?? []) {
    const gname = g.name ?? '';
    if (g.name !== undefined && !isEntryName(g.name)) fail(`bad attribute group name ${JSON.stringify(g.name)}`);
    if (groups.has(gname)) fail(`duplicate attribute group ${JSON.stringify(gname)}`);
    groups.add(gname);
    const names = new Set<string>();
    for (const a of g.attrs) {
      if (!isEntryName(a.name)) fail(`bad attribute name ${JSON.stringify(a.name)}`);
      if (names.has(a.name)) fail(`duplicate attribute ${a.name}`);
      names.add(a.name);
      if (!Number.isInteger(a.mode) || a.mode < 0 || a.mode > 0o777) fail(`bad mode of attribute ${a.name}`);
      if ((a.mode & 0o444) !== 0 && typeof a.show !== 'function') fail(`readable attribute ${a.name} needs show`);
      if ((a.mode & 0o222) !== 0 && typeof a.store !== 'function') fail(`writable attribute ${a.name} needs store`);
    }
  }
}
