/**
 * Concepts: lookups over the definitions directory, as mdevctl 1.2.0's `defined_devices` does them. Each parent
 * directory (a real directory, not a link) holds regular files named by UUID; every matching file is parsed and
 * then checked against sysfs. Any unreadable or malformed matching definition fails the whole lookup, as in mdevctl.
 */
import { join } from 'node:path';
import { parseJson } from '../mdevctl/serde-json.js';
import { fail } from '../mdevctl/failure.js';
import { warn, type CliContext } from '../mdevctl/io.js';
import { MDev } from '../mdevctl/mdev.js';
import { lstatKind, readDirNames } from '../mdevctl/sysfs-read.js';
import { readToString } from '../mdevctl/read-text.js';
import { byteCompare, parseUuid } from '../mdevctl/uuid.js';
import { TMP_DIR } from '../mdevctl/definitions.js';

/** Defined devices by parent (parents in byte order, devices in directory order), optionally filtered. */
export async function definedDevices(ctx: CliContext, uuid?: string, parent?: string): Promise<Map<string, MDev[]>> {
  const found: Array<[string, MDev[]]> = [];
  const base = ctx.root.definitions;
  let leading = true;
  for (const name of await readDirNames(base)) {
    // mdevctl 1.2.0 skips `scripts.d` only while it is at the head of the listing (a `skip_while`); elsewhere it is
    // scanned as a parent, so a stray regular file in it draws the same warning from both tools.
    if (leading && name === 'scripts.d') continue;
    leading = false;
    if (parent !== undefined && parent !== name) continue;
    const dir = join(base, name);
    if ((await lstatKind(dir)) !== 'dir') continue;
    const children: MDev[] = [];
    for (const child of await readDirNames(dir)) {
      if (child === TMP_DIR) continue;
      const path = join(dir, child);
      if ((await lstatKind(path)) !== 'file') continue;
      const u = parseUuid(child);
      if (u === undefined) {
        warn(ctx, `Can't determine uuid for file '${child}'`);
        continue;
      }
      if (uuid !== undefined && uuid !== u) continue;
      const json = parseJson(await readToString(path));
      const dev = new MDev(ctx.root, u);
      dev.loadFromJson(name, json);
      await dev.loadFromSysfs();
      children.push(dev);
    }
    if (children.length > 0) found.push([name, children]);
  }
  found.sort((a, b) => byteCompare(a[0], b[0]));
  return new Map(found);
}

/** The one definition of `uuid` (on `parent`, if given), with mdevctl's messages for none or several. */
export async function getDefinedDevice(ctx: CliContext, uuid: string, parent?: string): Promise<MDev> {
  const devs = await definedDevices(ctx, uuid, parent);
  if (devs.size === 0) {
    throw fail('ENOENT', parent === undefined ? `Mediated device ${uuid} is not defined` : `Mediated device ${parent}/${uuid} is not defined`);
  }
  if (devs.size > 1) {
    throw fail('EINVAL', parent === undefined ? `Multiple definitions found for ${uuid}, specify a parent` : `Multiple definitions found for ${parent}/${uuid}`);
  }
  const [[p, children]] = [...devs];
  if (children.length > 1) throw fail('EINVAL', `Multiple definitions found for ${p}/${uuid}`);
  return children[0];
}
