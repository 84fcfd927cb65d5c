import { invokeWithCallouts } from '../mdevctl/callouts.js';
import type { CliContext } from '../mdevctl/io.js';
import { MDev } from '../mdevctl/mdev.js';

/** `stop -u U`. */
export interface StopOptions {
  readonly uuid: string;
}

/**
 * Writes `1` to the device's `remove`. As mdevctl, there is no existence pre-check: a missing device fails with
 * `Error removing device U` over ENOENT.
 */
export async function stopCommand(ctx: CliContext, opts: StopOptions): Promise<void> {
  const dev = new MDev(ctx.root, opts.uuid);
  await dev.loadFromSysfs();
  await invokeWithCallouts(ctx, dev, 'stop', () => dev.stop());
  if (ctx.json) ctx.stdout.write(`${JSON.stringify({ uuid: dev.uuid })}\n`);
}
