import { join } from 'node:path';
import { context } from './failure.js';
import type { CliContext } from './io.js';
import { writeExisting } from './sysfs-read.js';

/** `online -u U [-u U2 …]` / `offline -u U [-u U2 …]`. */
export interface OnlineOptions {
  readonly uuids: readonly string[];
  readonly online: boolean;
}

/**
 * Writes `1` (online) or `0` (offline) to each device's `online` attribute, in the order given. This is plain sysfs,
 * so it works against a kernel or any umdevd mount; a group is not atomic: the first failure stops the command and
 * the devices before it keep their new state (the error names the device that failed).
 */
export async function onlineCommand(ctx: CliContext, opts: OnlineOptions): Promise<void> {
  const word = opts.online ? 'online' : 'offline';
  for (const u of opts.uuids) {
    try {
      await writeExisting(join(ctx.root.mdevPath(u), 'online'), opts.online ? '1' : '0');
    } catch (e) {
      throw context(e, `Failed to set device ${u} ${word}`);
    }
  }
  if (ctx.json) ctx.stdout.write(`${JSON.stringify({ uuids: opts.uuids, online: opts.online })}\n`);
}
