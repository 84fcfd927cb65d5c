import { join } from 'node:path';
import { context } from '../mdevctl/failure.js';
import type { CliContext } from '../mdevctl/io.js';
import { writeExisting } from '../mdevctl/sysfs-read.js';

/** `reset -u U`. */
export interface ResetOptions {
  readonly uuid: string;
}

/** Writes `1` to the device's `reset` attribute (never creating it). */
export async function resetCommand(ctx: CliContext, opts: ResetOptions): Promise<void> {
  try {
    await writeExisting(join(ctx.root.mdevPath(opts.uuid), 'reset'), '1');
  } catch (e) {
    throw context(e, `Failed to reset device ${opts.uuid}`);
  }
  if (ctx.json) ctx.stdout.write(`${JSON.stringify({ uuid: opts.uuid })}\n`);
}
