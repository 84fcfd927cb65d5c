import { invokeWithCallouts } from '../mdevctl/callouts.js';
import { definedDevices } from './defined.js';
import { chain, fail, osError } from '../mdevctl/failure.js';
import { warn, type CliContext } from '../mdevctl/io.js';

/** `start-parent-mdevs P`. */
export interface StartParentOptions {
  readonly parent: string;
}

/**
 * Starts every `auto` definition of one parent (what udev runs when a parent registers). A device that fails is
 * only warned about, each line of its error chain, and the command still succeeds.
 */
export async function startParentMdevsCommand(ctx: CliContext, opts: StartParentOptions): Promise<void> {
  const devs = await definedDevices(ctx, undefined, opts.parent);
  if (devs.size === 0) return;
  if (devs.size !== 1) throw fail('EINVAL', 'More than one parent found');
  const started: string[] = [];
  for (const children of devs.values()) {
    for (const d of children) {
      if (!d.autostart) continue;
      try {
        await invokeWithCallouts(ctx, d, 'start', () => d.start());
        started.push(d.uuid);
      } catch (e) {
        for (const line of chain(osError(e))) warn(ctx, line);
      }
    }
  }
  if (ctx.json) ctx.stdout.write(`${JSON.stringify({ started })}\n`);
}
