import { invokeWithCallouts } from '../mdevctl/callouts.js';
import { definedDevices } from './defined.js';
import { fail } from '../mdevctl/failure.js';
import type { CliContext } from '../mdevctl/io.js';

/** `undefine -u U [-p P]`. */
export interface UndefineOptions {
  readonly uuid: string;
  readonly parent?: string;
}

/**
 * Removes every definition of the UUID (only the one on `parent`, if given). As in mdevctl 1.2.0, a failure to
 * remove one file does not fail the command; running devices are untouched.
 */
export async function undefineCommand(ctx: CliContext, opts: UndefineOptions): Promise<void> {
  const devs = await definedDevices(ctx, opts.uuid, opts.parent);
  if (devs.size === 0) throw fail('ENOENT', 'No devices match the specified uuid');
  for (const children of devs.values()) {
    for (const d of children) await invokeWithCallouts(ctx, d, 'undefine', () => d.undefine()).catch(() => undefined);
  }
  if (ctx.json) ctx.stdout.write(`${JSON.stringify({ uuid: opts.uuid })}\n`);
}
