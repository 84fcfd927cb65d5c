/**
 * The 2016 v6 patch's sysfs ABI (`drivers/vfio/mdev/mdev_sysfs.c` of the seed): per parent a read-only
 * `mdev_supported_types` file and write-only `mdev_create`/`mdev_destroy`; globally `class/mdev/mdev_start` and
 * `mdev_stop`. Devices are named `UUID-instance` by the core.
 *
 * Choices where the seed is loose (documented in docs/sysfs.md):
 * - The UUID part must be exactly 36 characters (the seed's `uuid_le_to_bin` ignored anything after 36).
 * - One trailing `\n` of a write is dropped first, so `echo "$UUID:0:params"` does not hand `params\n` to the vendor.
 * - `mdev_create`'s params select the type when their first comma-separated token is a type id of the parent
 *   (`UUID:0:mtty-2,foo`); otherwise the parent's first type is used. The vendor gets the params unchanged.
 * - `mdev_destroy` of a device that does not exist on this parent is `ENODEV` (the seed said `EINVAL`; the review
 *   asked for `ENODEV`, which mainline adopted).
 */
import { err } from '../errors.js';
import type { MdevType, Parent, Uuid } from '../core/types.js';
import { type SysfsContext, deviceNamed, liveParent } from './context.js';
import { type Child, type LookupDir, dir, fileChild, roFile, woFile } from './nodes.js';
import { UUID_STRING_LEN, kstrtoul, parseUuid } from './parse.js';

const U32_MAX = 0xffff_ffffn;

/** A parsed `mdev_create` write. */
export interface SeedCreate {
  readonly uuid: Uuid;
  readonly instance: number;
  readonly params: string | undefined;
}

/** `mdev_create_store`: `UUID:instance[:params]`; `instance` is `kstrtouint(…, 0)` (`EINVAL`, or `ERANGE` if too big). */
export function parseSeedCreate(data: Buffer): SeedCreate {
  const s = data.toString('utf8').replace(/\n$/, '');
  const first = s.indexOf(':');
  if (first < 0) throw err('EINVAL', 'mdev_create: expected UUID:instance[:params]');
  const second = s.indexOf(':', first + 1);
  const instanceStr = second < 0 ? s.slice(first + 1) : s.slice(first + 1, second);
  const instance = kstrtoul(instanceStr, U32_MAX);
  if ('errno' in instance) throw err(instance.errno, `mdev_create: bad instance "${instanceStr}"`);
  const uuid = parseUuid(s.slice(0, first));
  if (uuid === undefined) throw err('EINVAL', 'mdev_create: not a UUID');
  return { uuid, instance: Number(instance.value), params: second < 0 ? undefined : s.slice(second + 1) };
}

/** `mdev_destroy_store`: `UUID:instance`. */
export function parseSeedDestroy(data: Buffer): { readonly uuid: Uuid; readonly instance: number } {
  const s = data.toString('latin1');
  const first = s.indexOf(':');
  if (first < 0) throw err('EINVAL', 'mdev_destroy: expected UUID:instance');
  const instance = kstrtoul(s.slice(first + 1), U32_MAX);
  if ('errno' in instance) throw err(instance.errno, 'mdev_destroy: bad instance');
  const uuid = parseUuid(s.slice(0, first));
  if (uuid === undefined) throw err('EINVAL', 'mdev_destroy: not a UUID');
  return { uuid, instance: Number(instance.value) };
}

/** `mdev_start_store`/`mdev_stop_store`: one UUID, with or without a trailing newline. */
export function parseSeedUuid(name: string, data: Buffer): Uuid {
  const s = data.toString('latin1');
  const body = s.length === UUID_STRING_LEN + 1 && s.endsWith('\n') ? s.slice(0, UUID_STRING_LEN) : s;
  const uuid = parseUuid(body);
  if (uuid === undefined) throw err('EINVAL', `${name}: not a UUID`);
  return uuid;
}

/** The type a `mdev_create` params string selects (see the file comment). */
export function seedType(parent: Parent, params: string | undefined): MdevType | undefined {
  const token = params?.split(',')[0];
  return parent.types.find((t) => t.id === token) ?? parent.types[0];
}

/** The seed's per-parent files. */
export function seedParentChildren(ctx: SysfsContext, parent: Parent): Child[] {
  const name = parent.name;
  return [
    fileChild('mdev_supported_types', () =>
      roFile(() => {
        const p = liveParent(ctx, name);
        // The seed printed the vendor's supported_config text followed by "\n".
        const text = p.supportedConfigs ? p.supportedConfigs() : p.types.map((t) => `${t.id}\n`).join('');
        return text.endsWith('\n') ? text : `${text}\n`;
      }),
    ),
    fileChild('mdev_create', () =>
      woFile(async (data) => {
        const req = parseSeedCreate(data);
        const type = seedType(liveParent(ctx, name), req.params);
        if (type === undefined) throw err('ENODEV', `${name} has no types`);
        const options = req.params === undefined ? { instance: req.instance, origin: 'sysfs' } : { instance: req.instance, params: req.params, origin: 'sysfs' };
        await ctx.core.create(name, type.id, req.uuid, options);
      }),
    ),
    fileChild('mdev_destroy', () =>
      woFile(async (data) => {
        const req = parseSeedDestroy(data);
        const d = deviceNamed(ctx, `${req.uuid}-${req.instance}`);
        if (d === undefined || d.parent.name !== name) throw err('ENODEV', `no device ${req.uuid}:${req.instance} on ${name}`);
        await ctx.core.remove(d.uuid, { origin: 'sysfs' });
      }),
    ),
  ];
}

/**
 * `class/mdev/`: `mdev_start`/`mdev_stop` take a UUID and start or stop every instance of it in one core call
 * (`setOnlineGroup`: one vendor call when the vendor has group hooks). An unknown UUID is `EINVAL`, as in the seed.
 */
export function seedClassDir(ctx: SysfsContext): LookupDir {
  const store = (name: string, online: boolean) => async (data: Buffer) => {
    const uuid = parseSeedUuid(name, data);
    // UUIDs are unique across instances and parents, so "every instance of a UUID" is at most one device.
    const device = ctx.core.device(uuid);
    if (device === undefined) throw err('EINVAL', `${name}: no device ${uuid}`);
    await ctx.core.setOnlineGroup([device.uuid], online);
  };
  return dir([fileChild('mdev_start', () => woFile(store('mdev_start', true))), fileChild('mdev_stop', () => woFile(store('mdev_stop', false)))]);
}
