import { getAttributes, invokeWithCallouts } from '../mdevctl/callouts.js';
import { definedDevices } from './defined.js';
import { context, debugPath, fail } from '../mdevctl/failure.js';
import type { CliContext } from '../mdevctl/io.js';
import { MDev } from '../mdevctl/mdev.js';
import { parseJson } from '../mdevctl/serde-json.js';
import { readToString } from '../mdevctl/read-text.js';
import { newUuid } from '../mdevctl/uuid.js';

/** `define [-u U] [-p P] [-t T] [--auto|--manual] [--jsonfile F]`. */
export interface DefineOptions {
  readonly uuid?: string;
  readonly parent?: string;
  readonly type?: string;
  readonly auto?: boolean;
  readonly jsonfile?: string;
}

/** Reads a `--jsonfile` as mdevctl does (`Unable to read jsonfile "F"` over the os error, then serde_json errors). */
export async function readJsonFile(path: string): Promise<ReturnType<typeof parseJson>> {
  let text: string;
  try {
    text = await readToString(path);
  } catch (e) {
    throw context(e, `Unable to read jsonfile ${debugPath(path)}`);
  }
  return parseJson(text);
}

/** Builds the device to define from the options, with mdevctl's checks and messages. */
async function deviceToDefine(ctx: CliContext, opts: DefineOptions): Promise<MDev> {
  const dev = new MDev(ctx.root, opts.uuid ?? newUuid());
  if (opts.jsonfile !== undefined) {
    if (opts.type !== undefined) throw fail('EINVAL', `Device type cannot be specified separately from ${debugPath(opts.jsonfile)}`);
    if (opts.parent === undefined) throw fail('EINVAL', `Parent device required to define device via ${debugPath(opts.jsonfile)}`);
    if ((await definedDevices(ctx, dev.uuid, opts.parent)).size > 0) {
      throw fail('EEXIST', `Cowardly refusing to overwrite existing config for ${opts.parent}/${dev.uuid}`);
    }
    dev.loadFromJson(opts.parent, await readJsonFile(opts.jsonfile));
    return dev;
  }
  if (opts.uuid !== undefined) {
    // An active device supplies its own parent and type.
    await dev.loadFromSysfs();
    if (opts.parent === undefined && (!dev.active || opts.type !== undefined)) throw fail('EINVAL', 'No parent specified');
  }
  dev.autostart = opts.auto === true;
  if (opts.parent !== undefined) dev.parent = opts.parent;
  if (opts.type !== undefined) dev.mdevType = opts.type;
  if (dev.parent === undefined) throw fail('EINVAL', 'No parent specified');
  if (dev.mdevType === undefined) throw fail('EINVAL', 'No type specified');
  if (await dev.isDefined()) throw fail('EEXIST', `Device ${dev.uuid} on ${dev.parent} already defined`);
  return dev;
}

/** Writes a new definition; prints the UUID when it was generated (always, as `{"uuid":…}`, with `--json`). */
export async function defineCommand(ctx: CliContext, opts: DefineOptions): Promise<void> {
  const dev = await deviceToDefine(ctx, opts);
  // An active device's live attributes come from its callout, asked before the `pre` hook (as mdevctl 1.2.0 does).
  if (dev.active) dev.addAttributes(await getAttributes(ctx, dev));
  await invokeWithCallouts(ctx, dev, 'define', () => dev.writeConfig());
  if (ctx.json) ctx.stdout.write(`${JSON.stringify({ uuid: dev.uuid })}\n`);
  else if (opts.uuid === undefined) ctx.stdout.write(`${dev.uuid}\n`);
}
