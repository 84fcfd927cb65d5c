/**
 * `where`: which umdevd the tools on this machine talk to, found by the one rule (`api-client/find-state.ts`:
 * `--state-dir`, `UMDEV_STATE`, a live `./umdev-state`, `/var/lib/umdev`), why that one, whether a umdevd holds it,
 * and where it keeps its tree, definitions and device sockets (from its `api.json`). Reads two small files; asks the
 * daemon nothing.
 */
import { statePaths } from '../api-client/state-paths.js';
import type { CliContext } from '../mdevctl/io.js';

export interface WhereOptions {
  readonly stateDir?: string;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export async function whereCommand(ctx: CliContext, opts: WhereOptions): Promise<void> {
  const p = await statePaths(opts.stateDir, opts.env);
  const found = { stateDir: p.state.dir, source: p.state.source, pid: p.state.pid ?? null, sysfs: p.sysfs, definitions: p.definitions, sockets: p.run };
  if (ctx.json) {
    ctx.stdout.write(`${JSON.stringify(found)}\n`);
    return;
  }
  ctx.stdout.write(
    `state dir:   ${p.why}\n` +
      `umdevd:      ${p.state.pid === undefined ? 'none holds it' : `pid ${p.state.pid}`}\n` +
      `sysfs:       ${p.sysfs}\ndefinitions: ${p.definitions}\nsockets:     ${p.run}\n`,
  );
}
