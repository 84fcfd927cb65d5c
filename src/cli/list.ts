import { getAttributes } from '../mdevctl/callouts.js';
import { warn, type CliContext } from '../mdevctl/io.js';
import { MDev } from '../mdevctl/mdev.js';
import { prettyJson, type JsonOut } from '../mdevctl/serde-json.js';
import { readDirNames } from '../mdevctl/sysfs-read.js';
import { byteCompare, parseUuid } from '../mdevctl/uuid.js';

/** `list [-d] [-v] [-u U] [-p P] [--dumpjson]`. */
export interface ListOptions {
  readonly defined?: boolean;
  readonly dumpjson?: boolean;
  readonly verbose?: boolean;
  readonly uuid?: string;
  readonly parent?: string;
}

/**
 * Active mdevs (from `bus/mdev/devices`, merged with their definitions) by parent. An entry whose name is not a
 * UUID is warned about; one whose realpath fails is skipped; one whose link dangles fails the listing with
 * "missing a parent", exactly as mdevctl 1.2.0 does.
 */
export async function activeDevices(ctx: CliContext, uuid?: string, parent?: string): Promise<Map<string, MDev[]>> {
  const byParent = new Map<string, MDev[]>();
  let names: string[];
  try {
    names = await readDirNames(ctx.root.mdevDevices);
  } catch {
    return byParent;
  }
  for (const name of names) {
    const u = parseUuid(name);
    if (u === undefined) {
      warn(ctx, `Can't determine uuid for file '${name}'`);
      continue;
    }
    if (uuid !== undefined && uuid !== u) continue;
    const dev = new MDev(ctx.root, u);
    try {
      await dev.loadFromSysfs();
    } catch {
      continue;
    }
    if (parent !== undefined && parent !== dev.parent) continue;
    try {
      // As mdevctl 1.2.0: a definition modified (-t) while the device runs is listed with its new type, and said so.
      await dev.loadDefinition((m) => warn(ctx, m, 'mdevctl::mdev'));
    } catch {
      // mdevctl ignores an unreadable definition here; the device is listed from sysfs alone.
    }
    if (dev.active && !(await dev.isDefined())) dev.addAttributes(await getAttributes(ctx, dev));
    const p = dev.requireParent();
    const list = byParent.get(p) ?? [];
    list.push(dev);
    byParent.set(p, list);
  }
  return new Map([...byParent].sort((a, b) => byteCompare(a[0], b[0])));
}

/** The `--dumpjson` document for a device map: `[]`, or `[{parent: [{uuid: definition}]}]`. */
export function devicesJson(devices: ReadonlyMap<string, readonly MDev[]>): string {
  const parents = new Map<string, JsonOut>([...devices].map(([p, ds]) => [p, ds.map((d) => d.toJson(true))]));
  return prettyJson(parents.size === 0 ? [] : [parents]);
}

/** Prints active (or, with `defined`, defined) devices as text or JSON. */
export async function listCommand(ctx: CliContext, opts: ListOptions): Promise<void> {
  const devices = opts.defined === true ? await (await import('./defined.js')).definedDevices(ctx, opts.uuid, opts.parent) : await activeDevices(ctx, opts.uuid, opts.parent);
  for (const ds of devices.values()) ds.sort((a, b) => byteCompare(a.uuid, b.uuid));
  let s = '';
  if (opts.dumpjson === true || ctx.json) {
    const all = [...devices.values()].flat();
    // With -u and a single match, the output is a definition that can be fed back as a config file.
    if (opts.uuid === undefined || all.length > 1) s = devicesJson(devices);
    else s = all.length === 0 ? prettyJson([]) : prettyJson(all[0].toJson(false));
  } else {
    for (const d of [...devices.values()].flat()) s += (await d.toText(opts.defined === true ? 'defined' : 'active', opts.verbose === true)) ?? '';
  }
  ctx.stdout.write(`${s}\n`);
}
