/**
 * `exec -- CMD…` / `shell`: run a command where the unmodified mdevctl (and anything reading /sys) sees umdevd's
 * trees: a fresh private mount namespace with the state dir's `sys` bound over `/sys` and its `mdevctl.d` over
 * `/etc/mdevctl.d`. Fresh on every call, so a restarted daemon's new mount is what the command sees (a long-lived
 * `unshare -m` shell keeps the old, dead mount: ENOTCONN). The trade-off: the real /sys is hidden inside.
 */
import { spawn } from 'node:child_process';
import { constants as constants_fs } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { constants } from 'node:os';
import { fail } from '../mdevctl/failure.js';
import { statePaths } from './state-paths.js';

export interface ExecOptions {
  readonly stateDir?: string;
  readonly command: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
}

const SCRIPT = 'mount --rbind "$0" /sys && mount --bind "$1" /etc/mdevctl.d && shift && exec "$@"';

/** Runs the command to completion and returns its exit status (128+signal when a signal ended it). */
export async function execCommand(opts: ExecOptions): Promise<number> {
  if (opts.command.length === 0) throw fail('EINVAL', 'No command given: umdevctl exec -- CMD [ARGS...]');
  if (process.getuid?.() !== 0) throw fail('EPERM', 'umdevctl exec needs root: it makes a mount namespace and bind mounts');
  const paths = await statePaths(opts.stateDir, opts.env);
  const mounts = await readFile('/proc/self/mountinfo', 'utf8');
  const mount = mounts.split('\n').find((l) => l.split(' ')[4] === paths.sysfs);
  if (mount === undefined) {
    throw fail('ENOENT', `${paths.sysfs} is not mounted: no umdevd serves ${paths.why}`);
  }
  // A tree mounted by another user without allow_other refuses everyone else, root included: mdevctl would then
  // list nothing and succeed. Say so instead.
  try {
    await access(join(paths.sysfs, 'class'), constants_fs.R_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM') throw e;
    // FUSE records who mounted it in the super block options (`user_id=N`); stat of the mount is refused too.
    const owner = /[ ,]user_id=(\d+)/.exec(mount)?.[1];
    throw fail('EACCES', `${paths.sysfs} was mounted by uid ${owner ?? '?'} without allow_other, so no other user can read it, root included: run the command as that user, or add user_allow_other to /etc/fuse.conf and restart that umdevd`);
  }
  const env = Object.fromEntries(Object.entries(opts.env).filter((e): e is [string, string] => e[1] !== undefined));
  return new Promise((resolve, reject) => {
    const child = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', SCRIPT, paths.sysfs, paths.definitions, ...opts.command], {
      stdio: 'inherit',
      env,
    });
    child.on('error', (e) => reject(fail('ENOENT', `cannot run unshare (Debian package util-linux): ${e.message}`)));
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal === null ? 0 : constants.signals[signal])));
  });
}
