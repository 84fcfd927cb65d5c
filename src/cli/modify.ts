import { invokeWithCallouts } from '../mdevctl/callouts.js';
import { getDefinedDevice } from './defined.js';
import { fail } from '../mdevctl/failure.js';
import type { CliContext } from '../mdevctl/io.js';

/** `modify -u U [-p P] [-t T] [--auto|--manual] [--addattr A --value V [-i N]] [--delattr [-i N]]`. */
export interface ModifyOptions {
  readonly uuid: string;
  readonly parent?: string;
  readonly type?: string;
  readonly auto?: boolean;
  readonly manual?: boolean;
  readonly addattr?: string;
  readonly value?: string;
  readonly delattr?: boolean;
  readonly index?: number;
}

/** Rewrites one definition; running devices are unaffected. */
export async function modifyCommand(ctx: CliContext, opts: ModifyOptions): Promise<void> {
  const dev = await getDefinedDevice(ctx, opts.uuid, opts.parent);
  if (opts.type !== undefined) dev.mdevType = opts.type;
  if (opts.auto === true) dev.autostart = true;
  else if (opts.manual === true) dev.autostart = false;
  if (opts.addattr !== undefined) {
    if (opts.value === undefined) throw fail('EINVAL', 'No attribute value provided');
    dev.addAttribute(opts.addattr, opts.value, opts.index);
  } else if (opts.delattr === true) dev.deleteAttribute(opts.index);
  await invokeWithCallouts(ctx, dev, 'modify', () => dev.writeConfig());
  if (ctx.json) ctx.stdout.write(`${JSON.stringify({ uuid: dev.uuid })}\n`);
}
