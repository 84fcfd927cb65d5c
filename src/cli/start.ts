import { invokeWithCallouts } from '../mdevctl/callouts.js';
import { definedDevices } from './defined.js';
import { readJsonFile } from './define.js';
import { fail } from '../mdevctl/failure.js';
import type { CliContext } from '../mdevctl/io.js';
import { MDev } from '../mdevctl/mdev.js';
import { newUuid } from '../mdevctl/uuid.js';

/** `start [-u U] [-p P] [-t T] [--jsonfile F]`. */
export interface StartOptions {
  readonly uuid?: string;
  readonly parent?: string;
  readonly type?: string;
  readonly jsonfile?: string;
}

/** Resolves what to start: a JSON file, the one definition of `-u`, or a fully specified `-p -t`. */
async function deviceToStart(ctx: CliContext, opts: StartOptions): Promise<MDev> {
  if (opts.jsonfile !== undefined) {
    const json = await readJsonFile(opts.jsonfile);
    if (opts.type !== undefined) throw fail('EINVAL', 'Device type cannot be specified separately from json file');
    if (opts.parent === undefined) throw fail('EINVAL', 'Parent device required to start device via json file');
    const d = new MDev(ctx.root, opts.uuid ?? newUuid());
    d.loadFromJson(opts.parent, json);
    return d;
  }
  let dev: MDev | undefined;
  if (opts.uuid !== undefined) {
    const devs = [...(await definedDevices(ctx, opts.uuid, opts.parent)).values()].flat();
    if (devs.length > 1) throw fail('EINVAL', `Multiple definitions found for device ${opts.uuid}. Please specify a parent.`);
    if (devs.length === 1) {
      const d = devs[0];
      if (opts.type !== undefined && opts.type !== d.mdevType) {
        throw fail('EEXIST', `Device ${d.uuid} already exists on parent ${d.parent ?? ''} with type ${d.mdevType ?? ''}`);
      }
      dev = d.clone();
    }
  }
  if (dev === undefined) {
    dev = new MDev(ctx.root, opts.uuid ?? newUuid());
    dev.parent = opts.parent;
    dev.mdevType = opts.type;
  }
  if (dev.mdevType !== undefined && dev.parent === undefined) throw fail('EINVAL', "can't provide type without parent");
  if (dev.mdevType === undefined || dev.parent === undefined) throw fail('EINVAL', 'Device is insufficiently specified');
  return dev;
}

/** Creates the device (and writes its attributes); prints the UUID when it was generated. */
export async function startCommand(ctx: CliContext, opts: StartOptions): Promise<void> {
  const dev = await deviceToStart(ctx, opts);
  await invokeWithCallouts(ctx, dev, 'start', () => dev.start());
  if (ctx.json) ctx.stdout.write(`${JSON.stringify({ uuid: dev.uuid })}\n`);
  else if (opts.uuid === undefined) ctx.stdout.write(`${dev.uuid}\n`);
}
