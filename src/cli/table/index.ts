/**
 * Concepts: the command table, the one place umdevctl's commands and options are declared (`types.ts` says what an
 * entry holds). In the order the man page describes them: mdevctl's commands, then umdev's own.
 */
import { MDEVCTL_COMMANDS } from './mdevctl.js';
import type { CommandDecl, OptionDecl } from './types.js';
import { UMDEV_COMMANDS } from './umdev.js';

export type { ArgDecl, ArgKind, CommandDecl, CommandRun, Invocation, OptionDecl, RunIo, Values } from './types.js';

export const COMMANDS: readonly CommandDecl[] = [...MDEVCTL_COMMANDS, ...UMDEV_COMMANDS];

const BY_NAME = new Map(COMMANDS.map((c) => [c.name, c]));

/** The command called `name`, or undefined. */
export function commandNamed(name: string): CommandDecl | undefined {
  return BY_NAME.get(name);
}

/** The options every command takes (umdevctl's, beyond mdevctl's), in the order `umdevctl --help` lists them. */
export const GLOBAL_OPTIONS: readonly OptionDecl[] = [
  { long: 'config-root', value: '<DIR>', help: 'Directory that plays /etc/mdevctl.d (default: UMDEV_CONFIG_ROOT, else /etc/mdevctl.d)' },
  { long: 'json', help: 'Machine-readable output and errors' },
  { long: 'state-dir', value: '<DIR>', help: "umdevd's state directory: its tree, definitions and API (default: UMDEV_STATE, else ./umdev-state if a umdevd holds it)" },
  { long: 'sysfs-root', value: '<DIR>', help: 'Directory that plays /sys (default: UMDEV_SYSFS_ROOT, else /sys)' },
];

/** `-h, --help` and `-V, --version`, which clap adds to every command (`-V` where the command has a version). */
export const HELP_OPTION: OptionDecl = { long: 'help', short: 'h', help: 'Print help information' };
export const VERSION_OPTION: OptionDecl = { long: 'version', short: 'V', help: 'Print version information' };
