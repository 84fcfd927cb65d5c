import { join } from 'node:path';
import { apiRequest, knownApi, type ApiLocation } from './daemon-api.js';
import { context, osError } from '../mdevctl/failure.js';
import { warn, type CliContext } from './io.js';
import { writeExisting } from './sysfs-read.js';
import { readToString } from '../mdevctl/read-text.js';

/** `online -u U [-u U2 …] [--api URL | --state-dir DIR]` / `offline …`. */
export interface OnlineOptions extends ApiLocation {
  readonly uuids: readonly string[];
  readonly online: boolean;
  /** The environment, for `UMDEV_API`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/**
 * Switches every named device online (or offline), all or none.
 *
 * With umdevd's API known (`--api`, `--state-dir`, `UMDEV_API`) this is one `POST /groups/online`: one core call,
 * which the core makes all-or-nothing (one vendor group call per parent where the vendor has one, undo otherwise).
 *
 * Without an API (a kernel's sysfs, or a mount whose daemon has no API) each device's `online` attribute is written
 * in the order given; on a failure the devices already switched get their old value written back, in reverse, and
 * the error names the device that failed. That path is all-or-nothing by rollback, not by one vendor call: another
 * observer can see the intermediate states, and a rollback write that itself fails is reported as a warning.
 */
export async function onlineCommand(ctx: CliContext, opts: OnlineOptions): Promise<void> {
  const word = opts.online ? 'online' : 'offline';
  // Roots that came from a umdevd's state dir mean that daemon's API.
  const api = await knownApi({ api: opts.api, stateDir: opts.stateDir ?? ctx.state?.dir }, opts.env ?? {});
  if (api !== undefined) {
    try {
      await apiRequest(api, 'POST', '/groups/online', { uuids: opts.uuids, online: opts.online });
    } catch (e) {
      const what = opts.uuids.length === 1 ? `device ${opts.uuids[0]}` : `devices ${opts.uuids.join(', ')}`;
      throw context(e, `Failed to set ${what} ${word}`);
    }
  } else {
    await viaSysfs(ctx, opts.uuids, opts.online);
  }
  if (ctx.json) ctx.stdout.write(`${JSON.stringify({ uuids: opts.uuids, online: opts.online })}\n`);
}

async function viaSysfs(ctx: CliContext, uuids: readonly string[], online: boolean): Promise<void> {
  const word = online ? 'online' : 'offline';
  const switched: { file: string; old: string }[] = [];
  for (const u of uuids) {
    const file = join(ctx.root.mdevPath(u), 'online');
    try {
      const old = (await readToString(file)).trim();
      await writeExisting(file, online ? '1' : '0');
      if (old !== (online ? '1' : '0')) switched.push({ file, old });
    } catch (e) {
      const failure = context(e, `Failed to set device ${u} ${word}`);
      for (const s of switched.reverse()) {
        try {
          await writeExisting(s.file, s.old);
        } catch (undo) {
          warn(ctx, `Failed to restore ${s.file} to ${s.old}: ${osError(undo).message}`);
        }
      }
      throw failure;
    }
  }
}
