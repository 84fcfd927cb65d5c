import { join } from 'node:path';
import type { CliContext } from '../mdevctl/io.js';
import type { UmdevError } from '../errors.js';
import type { JsonOut } from '../mdevctl/serde-json.js';
import { exists, lstatKind, parseI32, readDirNames } from '../mdevctl/sysfs-read.js';
import { readToString } from '../mdevctl/read-text.js';
import { byteCompare } from '../mdevctl/uuid.js';

/** `types [-p P] [--dumpjson]`. */
export interface TypesOptions {
  readonly parent?: string;
  readonly dumpjson?: boolean;
}

/** One supported type of one parent, as `types` reports it. */
export interface MdevTypeInfo {
  readonly typename: string;
  readonly availableInstances: number;
  readonly deviceApi: string;
  /** Empty when the type has no `name` attribute. */
  readonly name: string;
  /** Empty when absent; newlines become `, `. */
  readonly description: string;
}

/**
 * Every parent in `class/mdev_bus` with its types (parents and types in byte order), as mdevctl's
 * `supported_types`: a parent without `mdev_supported_types`, or a type without `available_instances` or
 * `device_api`, fails the whole listing; a type entry that is not a real directory is skipped.
 */
export async function supportedTypes(ctx: CliContext, parent?: string): Promise<Map<string, MdevTypeInfo[]>> {
  const out: Array<[string, MdevTypeInfo[]]> = [];
  let parents: string[];
  try {
    parents = await readDirNames(ctx.root.mdevBus);
  } catch {
    return new Map();
  }
  for (const p of parents) {
    if (parent !== undefined && parent !== p) continue;
    const dir = join(ctx.root.mdevBus, p, 'mdev_supported_types');
    const types: MdevTypeInfo[] = [];
    for (const t of await readDirNames(dir)) {
      const tdir = join(dir, t);
      if ((await lstatKind(tdir)) !== 'dir') continue;
      const availableInstances = parseI32((await readToString(join(tdir, 'available_instances'))).trim());
      const deviceApi = (await readToString(join(tdir, 'device_api'))).trim();
      const name = await optional(join(tdir, 'name'));
      const description = (await optional(join(tdir, 'description'))).replaceAll('\n', ', ');
      types.push({ typename: t, availableInstances, deviceApi, name, description });
    }
    types.sort((a, b) => byteCompare(a.typename, b.typename));
    out.push([p, types]);
  }
  out.sort((a, b) => byteCompare(a[0], b[0]));
  return new Map(out);
}

/**
 * An attribute mdevctl reads only if it exists (else `''`), trimmed. A read that fails with ENOENT found nothing to
 * read, so existence is asked only after another failure (on a FUSE mount each question is a round trip).
 */
async function optional(p: string): Promise<string> {
  try {
    return (await readToString(p)).trim();
  } catch (e) {
    if ((e as UmdevError).errno === 'ENOENT' || !(await exists(p))) return '';
    throw e;
  }
}

function typeJson(t: MdevTypeInfo): JsonOut {
  const o = new Map<string, JsonOut>([
    ['available_instances', t.availableInstances],
    ['device_api', t.deviceApi],
  ]);
  if (t.name !== '') o.set('name', t.name);
  if (t.description !== '') o.set('description', t.description);
  return new Map([[t.typename, o]]);
}

/** Prints the supported types, as text or (with `--dumpjson` or `--json`) as mdevctl's JSON. */
export async function typesCommand(ctx: CliContext, opts: TypesOptions): Promise<void> {
  const types = await supportedTypes(ctx, opts.parent);
  let s = '';
  if (opts.dumpjson === true || ctx.json) {
    const { prettyJson } = await import('../mdevctl/serde-json.js');
    const parents = new Map<string, JsonOut>([...types].map(([p, ts]) => [p, ts.map(typeJson)]));
    s = prettyJson(parents.size === 0 ? [] : [parents]);
  } else {
    for (const [p, ts] of types) {
      s += `${p}\n`;
      for (const t of ts) {
        s += `  ${t.typename}\n    Available instances: ${t.availableInstances}\n    Device API: ${t.deviceApi}\n`;
        if (t.name !== '') s += `    Name: ${t.name}\n`;
        if (t.description !== '') s += `    Description: ${t.description}\n`;
      }
    }
  }
  ctx.stdout.write(`${s}\n`);
}
