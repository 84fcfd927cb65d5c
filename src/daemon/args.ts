/** Command-line parsing for `umdevd` (util.parseArgs); no side effects, so it is tested as a table. */
import { parseArgs } from 'node:util';
import { err } from '../errors.js';
import { LOG_LEVELS, logLevelOption, type LogLevel } from '../log.js';

/** What the command line asks for. */
export type Command =
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | {
      readonly kind: 'run';
      readonly stateDir: string;
      readonly configFile: string | undefined;
      readonly noMount: boolean;
      readonly noExtensions: boolean;
      readonly logLevel: LogLevel | undefined;
      readonly logJson: boolean | undefined;
    };

export const USAGE = `Usage: umdevd [options]

Starts the userspace mdev framework in the foreground: registers the configured parents (default: the mtty sample),
mounts the sysfs tree over FUSE at DIR/sys, serves each device over vfio-user at DIR/run/<uuid>.sock, keeps mdevctl
definitions in DIR/mdevctl.d and answers a JSON control API on the Unix socket DIR/api.sock (see DIR/api.json).
Prints "umdevd ready" on stdout once everything is up; SIGINT/SIGTERM shut it down cleanly.

Options:
  -s, --state-dir DIR    state directory (default: UMDEV_STATE, else ./umdev-state)
  -c, --config FILE      JSON config file (parents, mount, sockets, definitions, api, layout, extensions, log)
      --no-mount         do not mount the sysfs tree
      --no-extensions    serve the kernel's sysfs layout exactly: no umdev-only files (online, reset)
      --log-level LEVEL  ${LOG_LEVELS.join('|')} (default info)
      --log-json         log JSON lines instead of text (stderr)
  -h, --help             show this help
  -V, --version          show the version
`;

/** Parse `argv` (without node and the script). `EINVAL` with a one-line reason for anything wrong. */
export function parseCommandLine(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): Command {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        'state-dir': { type: 'string', short: 's' },
        config: { type: 'string', short: 'c' },
        'no-mount': { type: 'boolean' },
        'no-extensions': { type: 'boolean' },
        'log-level': { type: 'string' },
        'log-json': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'V' },
      },
    });
  } catch (e) {
    throw err('EINVAL', (e as Error).message);
  }
  const v = parsed.values;
  if (v.help === true) return { kind: 'help' };
  if (v.version === true) return { kind: 'version' };
  const level = logLevelOption(v['log-level']);
  // As every tool finds it (src/cli/find-state.ts), less the search: the flag, UMDEV_STATE, else ./umdev-state.
  const stateDir = v['state-dir'] ?? (env.UMDEV_STATE === undefined || env.UMDEV_STATE === '' ? 'umdev-state' : env.UMDEV_STATE);
  if (stateDir === '') throw err('EINVAL', '--state-dir must not be empty');
  return {
    kind: 'run',
    stateDir,
    configFile: v.config,
    noMount: v['no-mount'] === true,
    noExtensions: v['no-extensions'] === true,
    logLevel: level,
    logJson: v['log-json'],
  };
}
