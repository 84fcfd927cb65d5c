/**
 * Help texts. For the commands mdevctl has, the wording is mdevctl 1.2.0's (`mdevctl CMD --help`), with the program
 * name swapped, so a person who knows one tool reads the other's help unchanged; umdev's own commands follow the
 * same layout. Plain data and the renderers of all clap prints (help, usage errors); `main.ts` decides when to print
 * them, and loads this module only then.
 */
import { label, type UsageError, type UsageSpec } from './usage.js';

/** One command's help: clap's `about`, the longer text, the usage line after the program name, and the options. */
interface CommandHelp {
  readonly about: string;
  readonly long?: string;
  readonly usage: string;
  /** `[flags, text]` in clap's alphabetical order; `-h, --help` is added by the renderer. */
  readonly options: ReadonlyArray<readonly [string, string]>;
  readonly args?: ReadonlyArray<readonly [string, string]>;
  /** clap's `version` on the subcommand: shown in the header and as `-V`. mdevctl 1.2.0 sets it on `list` only. */
  readonly version?: boolean;
}

const API_OPTS: ReadonlyArray<readonly [string, string]> = [
  ['    --api <SOCKET|URL>', "umdevd's control API (default: UMDEV_API, or the socket in <state-dir>/api.json)"],
  ['    --state-dir <DIR>', "umdevd's state directory, whose api.json names the API (default: UMDEV_STATE, else ./umdev-state if a umdevd holds it, else /var/lib/umdev)"],
];

export const HELP: Readonly<Record<string, CommandHelp>> = {
  define: {
    about: 'Define a persistent mediated device',
    long: `Define a persistent mediated device

If the device specified by the UUID currently exists, 'parent' and 'type' may be omitted to use the
existing values. The 'auto' option marks the device to start on parent availability.  If defined via
'jsonfile', then 'type', 'startup', and any attributes are provided via the file.

Running devices are unaffected by this command.`,
    usage: 'define [OPTIONS]',
    options: [
      ['-a, --auto', 'Automatically start device on parent availability'],
      ['    --jsonfile <JSONFILE>', 'Specify device details in JSON format'],
      ['-p, --parent <PARENT>', 'Specify the parent of the device'],
      ['-t, --type <type>', 'Specify the mdev type of the device'],
      ['-u, --uuid <UUID>', 'Assign UUID to the device'],
    ],
  },
  undefine: {
    about: 'Undefine a persistent mediated device',
    long: `Undefine, or remove a config for an mdev device

If a UUID exists for multiple parents, all will be removed unless a parent is
                specified.

Running devices are unaffected by this command.`,
    usage: 'undefine [OPTIONS] --uuid <UUID>',
    options: [
      ['-p, --parent <PARENT>', 'Parent of the device to be undefined'],
      ['-u, --uuid <UUID>', 'UUID of the device to be undefined'],
    ],
  },
  modify: {
    about: 'Modify the definition of a mediated device',
    long: `Modify the definition of a mediated device

The 'parent' option further identifies a UUID if it is not unique. The parent for a device cannot be
modified via this command; undefine and re-define should be used instead. An attribute can be added
or removed, which correlates to a sysfs attribute under the created device. Unless an 'index' value
is provided, operations are performed at the end of the attribute list. 'value' is to be specified
in the format that is accepted by the attribute. Upon device start, umdevctl will go through each
attribute in order, writing the value into the corresponding sysfs attribute for the device. The
startup mode of the device can also be selected, auto or manual.

Running devices are unaffected by this command.`,
    usage: 'modify [OPTIONS] --uuid <UUID>',
    options: [
      ['-a, --auto', 'Device will be started automatically'],
      ['    --addattr <attr_name>', 'add a new attribute'],
      ['    --delattr', 'Delete an attribute'],
      ['-i, --index <INDEX>', 'Index of the attribute to modify'],
      ['-m, --manual', 'Device must be started manually'],
      ['-p, --parent <PARENT>', 'Parent of the mdev to modify'],
      ['-t, --type <type>', 'Modify the mdev type for this device'],
      ['-u, --uuid <UUID>', 'UUID of the mdev to modify'],
      ['    --value <attr_value>', 'Value for the attribute specified by --addattr'],
    ],
  },
  start: {
    about: 'Start a mediated device',
    long: `Start a mediated device

If the UUID is previously defined and unique, the UUID is sufficient to start the device (UUIDs may
not collide between running devices). If a UUID is used in multiple defined configurations, the
'parent' is necessary to identify the device to be started.  When specified with 'parent' and
'type', the device is fully specified and will be started based only on these parameters.  The UUID
is optional in this case. If not provided, a UUID is generated and returned as output. A 'jsonfile'
may replace the 'type' specification and also include additional attributes to be applied to the
started device.`,
    usage: 'start [OPTIONS]',
    options: [
      ['    --jsonfile <JSONFILE>', 'Details of the device to be started, in JSON format'],
      ['-p, --parent <PARENT>', 'Parent of the device to start'],
      ['-t, --type <type>', 'Mdev type of the device to start'],
      ['-u, --uuid <UUID>', 'UUID of the device to start'],
    ],
  },
  stop: { about: 'Stop a mediated device', usage: 'stop --uuid <UUID>', options: [['-u, --uuid <UUID>', 'UUID of the device to stop']] },
  list: {
    about: 'List mediated devices',
    long: `List mediated devices

With no options, information about the currently running mediated devices is provided. Specifying
'defined' lists the configuration of defined devices, regardless of their running state. This may be
further reduced by specifying specific 'uuid' or 'parent' devices to list. The 'dumpjson' option
provides output listing in machine readable JSON format. When a 'uuid' option is provided and the
result is a single device, the output contains only the JSON fields necessary to recreate a config
file for the device (minus attributes for listings of running devices). When the verbose option is
provided, the human readable listing will include attributes for the device(s).`,
    usage: 'list [OPTIONS]',
    version: true,
    options: [
      ['-d, --defined', 'Show defined devices'],
      ['    --dumpjson', 'Output device list in json format'],
      ['-p, --parent <PARENT>', 'List devices associated with the specified Parent device'],
      ['-u, --uuid <UUID>', 'List devices matching the specified UUID'],
      ['-v, --verbose', 'Print additional information about the devices'],
    ],
  },
  types: {
    about: 'List available mediated device types',
    long: `List available mediated device types

Specifying a 'parent' lists only the types provided by the given parent device. The 'dumpjson'
option provides output in machine readable JSON format.`,
    usage: 'types [OPTIONS]',
    options: [
      ['    --dumpjson', 'Output mdev types list in JSON format'],
      ['-p, --parent <PARENT>', 'Show supported types for the specified parent'],
    ],
  },
  'start-parent-mdevs': {
    about: 'Start the auto-start devices of one parent',
    // Hidden in mdevctl (what its udev rule runs), so its help has no text.
    long: '',
    usage: 'start-parent-mdevs <PARENT>',
    options: [],
    args: [['<PARENT>', '']],
  },
  online: {
    about: 'Set one or more devices online (all or none)',
    long: `Set one or more devices online (all or none)

With umdevd's API known, one call switches the whole group in the core, all or nothing. Without it
(a kernel's sysfs, or a daemon without its API) each device's 'online' attribute is written in turn,
and the ones already switched are written back if a later one fails.`,
    usage: 'online [OPTIONS] --uuid <UUID>...',
    options: [...API_OPTS, ['-u, --uuid <UUID>...', 'A device to switch; repeat for a group']],
  },
  offline: {
    about: 'Set one or more devices offline (all or none)',
    long: `Set one or more devices offline (all or none)

The reverse of online, with the same all-or-nothing rules.`,
    usage: 'offline [OPTIONS] --uuid <UUID>...',
    options: [...API_OPTS, ['-u, --uuid <UUID>...', 'A device to switch; repeat for a group']],
  },
  reset: { about: 'Reset a mediated device', usage: 'reset --uuid <UUID>', options: [['-u, --uuid <UUID>', 'UUID of the device to reset']] },
  events: {
    about: "Follow umdevd's event stream (NDJSON)",
    long: `Follow umdevd's event stream (NDJSON)

Prints one JSON object per core event (add, remove, online, offline, change, ...) as it happens.`,
    usage: 'events [OPTIONS]',
    options: [...API_OPTS, ['-n, --count <N>', 'Stop after N events (default: follow until umdevd stops)']],
  },
  dashboard: {
    about: "Serve a live web dashboard of umdevd's devices",
    long: `Serve a live web dashboard of umdevd's devices

Serves a web page showing parents, pools, devices, their clients and counters, mbochs screens and mtty console
output, live, and prints a URL with a one-time login token. The page acts with your rights on umdevd's API: as a
user outside root and the API group it is read-only. Listens on 127.0.0.1 unless --listen says otherwise.`,
    usage: 'dashboard [OPTIONS]',
    options: [
      ...API_OPTS,
      ['    --listen <HOST:PORT>', 'Where to listen (default 127.0.0.1 and any free port)'],
      ['    --open', 'Open the URL with xdg-open'],
      ['    --peer <NAME=ADDRESS>...', 'A umdevd (socket or URL) the page may migrate devices to; token from UMDEV_DEST_TOKEN'],
    ],
  },
  screenshot: {
    about: "Save a device's screen as a PNG file",
    long: `Save a device's screen as a PNG file

Asks umdevd's API for the device's current framebuffer (GET /devices/<uuid>/screen.png) and writes it to FILE.
A device whose display is off (nothing set a mode) is "Device or resource busy"; one without a display (mtty) is
"Operation not supported".`,
    usage: 'screenshot [OPTIONS] <UUID> <FILE>',
    options: [...API_OPTS, ['-u, --uuid <UUID>', 'The device (instead of the positional UUID)']],
    args: [
      ['<UUID>', 'The device'],
      ['<FILE>', 'Where to write the PNG'],
    ],
  },
  exec: {
    about: "Run a command where mdevctl sees umdevd's trees",
    long: `Run a command where mdevctl sees umdevd's trees

Enters a fresh private mount namespace with the state dir's sys bound over /sys and its mdevctl.d over
/etc/mdevctl.d, then runs the command there, so the unmodified mdevctl manages umdev devices. The namespace is
made anew on every call, so it always sees the running daemon's mount. The real /sys is hidden inside it. Needs
root.`,
    usage: 'exec [OPTIONS] -- <COMMAND>...',
    options: [['    --state-dir <DIR>', "umdevd's state directory (default: UMDEV_STATE, else ./umdev-state if a umdevd holds it, else /var/lib/umdev)"]],
    args: [['<COMMAND>...', 'The command and its arguments, e.g. mdevctl types']],
  },
  shell: {
    about: "Start $SHELL where mdevctl sees umdevd's trees",
    long: `Start $SHELL where mdevctl sees umdevd's trees

umdevctl exec -- $SHELL. After umdevd restarts, leave the shell and start a new one: the old namespace holds
the old daemon's mount ("Transport endpoint is not connected").`,
    usage: 'shell [OPTIONS]',
    options: [['    --state-dir <DIR>', "umdevd's state directory (default: UMDEV_STATE, else ./umdev-state if a umdevd holds it, else /var/lib/umdev)"]],
  },
  'qemu-args': {
    about: 'Print the QEMU arguments that attach devices',
    long: `Print the QEMU arguments that attach devices

QEMU 10.1 or later: a shared memfd RAM backend (vfio-user passes guest memory to umdevd as fds) and one
vfio-user-pci device per UUID on its socket. Every argument is one shell word that needs no quoting, so
$(umdevctl qemu-args UUID) works as well as the printed text; --json prints {"args":[...]}.`,
    usage: 'qemu-args [OPTIONS] <UUID>...',
    options: [
      ['-m, --memory <SIZE>', 'Guest RAM size, as QEMU writes it (default 1G)'],
      ['    --state-dir <DIR>', "umdevd's state directory (default: UMDEV_STATE, else ./umdev-state if a umdevd holds it, else /var/lib/umdev)"],
      ['-u, --uuid <UUID>', 'The device (instead of the positional UUID)'],
    ],
    args: [['<UUID>...', 'The devices to attach']],
  },
  vm: {
    about: 'Boot a Linux guest with devices attached',
    long: `Boot a Linux guest with devices attached

Runs the VM tier's QEMU (from /var/cache/umdev/vm-root, or UMDEV_VM_ROOT; built first when missing) with the
devices on their sockets, a Debian guest kernel and a busybox initramfs that loads the devices' drivers and
reports each device on the serial console, which is this terminal. The guest then powers off; with --console it
gives a shell until poweroff (or QEMU's Ctrl-A X). Needs root. Exits with QEMU's status.`,
    usage: 'vm [OPTIONS] <UUID>...',
    options: [
      ['    --console', "Give the guest's serial console this terminal's input: a shell"],
      ['-m, --memory <SIZE>', 'Guest RAM, 128M to 64G (default 512M)'],
      ['    --state-dir <DIR>', "umdevd's state directory (default: UMDEV_STATE, else ./umdev-state if a umdevd holds it, else /var/lib/umdev)"],
    ],
    args: [['<UUID>...', 'The devices to attach']],
  },
  migrate: {
    about: 'Move a running device to another umdevd (live migration)',
    long: `Move a running device to another umdevd (live migration)

The source umdevd (the one --api, --state-dir or UMDEV_API names) creates the same type with the same UUID on
the destination, sends the device's state while it runs (PRE_COPY), stops it, sends the rest (STOP_COPY), and
removes its own copy once the destination runs it. Its vfio-user client stays connected until then and must
reconnect to the destination's socket, which the last line names; the device's definition moves with it. A
client that never negotiated migration (QEMU 11.1) could not follow: the migration is refused (Device or
resource busy) unless --force, which cuts that client off. Any failure, and Ctrl-C before the switch-over, rolls
back: the device runs on the source again and the destination's copy is removed. Prints each step; with --json
one JSON object per line, the last one "done" or "error".`,
    usage: 'migrate [OPTIONS] --to <DEST> <UUID>',
    options: [
      ...API_OPTS,
      ['    --to <DEST>', "The destination umdevd's API: http://HOST:PORT (its TCP API) or a socket path"],
      ['    --force', 'Migrate even though the attached client cannot follow (it is cut off)'],
      ['    --max-bandwidth <BYTES>', 'Send at most this many stream bytes per second (default: no limit)'],
      ['    --to-token-file <FILE>', "The destination's bearer token (its api.token; default: UMDEV_DEST_TOKEN)"],
      ['-u, --uuid <UUID>', 'The device (instead of the positional UUID)'],
    ],
    args: [['<UUID>', 'The device to move']],
  },
};

/** The global options every command accepts (umdevctl's, beyond mdevctl's). */
const GLOBAL_OPTS: ReadonlyArray<readonly [string, string]> = [
  ['    --config-root <DIR>', 'Directory that plays /etc/mdevctl.d (default: UMDEV_CONFIG_ROOT, else /etc/mdevctl.d)'],
  ['    --json', 'Machine-readable output and errors'],
  ['    --state-dir <DIR>', "umdevd's state directory: its tree, definitions and API (default: UMDEV_STATE, else ./umdev-state if a umdevd holds it)"],
  ['    --sysfs-root <DIR>', 'Directory that plays /sys (default: UMDEV_SYSFS_ROOT, else /sys)'],
];

function optionLines(opts: ReadonlyArray<readonly [string, string]>, long: boolean): string {
  if (long) return opts.map(([f, t]) => `    ${f}\n            ${t}\n`).join('\n');
  const w = Math.max(...opts.map(([f]) => f.length)) + 4;
  return opts.map(([f, t]) => `    ${f.padEnd(w)}${t}\n`).join('');
}

/**
 * `umdevctl help CMD` / `umdevctl CMD --help` (`long`: the long text, one option per paragraph) / `CMD -h` (the
 * one-line about and one line per option), as clap renders them; undefined for an unknown command.
 */
export function commandHelp(cmd: string, program: string, version: string, long: boolean): string | undefined {
  const h = HELP[cmd];
  if (h === undefined) return undefined;
  const useLong = long && h.long !== undefined && h.long !== '';
  const opts = [...h.options, ['-h, --help', 'Print help information'] as const, ...(h.version === true ? [['-V, --version', 'Print version information'] as const] : [])]
    .sort((a, b) => sortKey(a[0]).localeCompare(sortKey(b[0])));
  let s = `${program}-${cmd} ${h.version === true ? version : ''}\n`;
  // clap's long_about replaces the about line; a hidden command has neither.
  const text = useLong ? h.long : h.long === '' ? '' : h.about;
  if (text !== '') s += `${text}\n`;
  s += `\nUSAGE:\n    ${program} ${h.usage}\n`;
  if (h.args !== undefined) s += `\nARGS:\n${optionLines(h.args, false)}`;
  s += `\nOPTIONS:\n${optionLines(opts, useLong)}`;
  return s;
}

/** clap sorts options by their short letter, or their long name when they have none. */
function sortKey(flags: string): string {
  return /^-([a-zA-Z])/.exec(flags)?.[1]!.toLowerCase() ?? /--([a-z-]+)/.exec(flags)?.[1] ?? flags;
}

/** `umdevctl --help`, `umdevctl help`. */
export function globalHelp(version: string): string {
  const cmds: Array<readonly [string, string]> = [
    ...Object.entries(HELP).map(([n, h]) => [n, h.about] as const),
    ['help', 'Print this message or the help of the given subcommand(s)'] as const,
  ].sort((a, b) => a[0].localeCompare(b[0]));
  const w = Math.max(...cmds.map(([n]) => n.length)) + 4;
  return (
    `umdevctl ${version}\nAn mdevctl-compatible mediated device management utility for umdev and Linux\n\n` +
    `USAGE:\n    umdevctl [OPTIONS] <SUBCOMMAND>\n\nOPTIONS:\n` +
    optionLines([...GLOBAL_OPTS, ['-h, --help', 'Print help information'], ['-V, --version', 'Print version information']], false) +
    `\nSUBCOMMANDS:\n${cmds.map(([n, a]) => `    ${n.padEnd(w)}${a}\n`).join('')}\n` +
    "online/offline, events, screenshot, migrate and dashboard use umdevd's API when known (--api SOCKET|URL, --state-dir DIR, UMDEV_API, or the state dir found as docs/umdevd.md says).\n" +
    "'umdevctl help CMD' or 'umdevctl CMD --help' describes one command; man umdevctl describes them all.\n"
  );
}

/** `lsmdev --help`: mdevctl's lsmdev is `mdevctl list` under another name, with the short option layout. */
export function lsmdevHelp(version: string): string {
  const h = HELP.list!;
  const opts = [...h.options, ['-h, --help', 'Print help information'] as const, ['-V, --version', 'Print version information'] as const]
    .sort((a, b) => sortKey(a[0]).localeCompare(sortKey(b[0])));
  return `lsmdev ${version}\n${h.about}\n\nUSAGE:\n    lsmdev [OPTIONS]\n\nOPTIONS:\n${optionLines(opts, false)}`;
}

/** clap's usage line for an error (see `UsageSpec`). */
export function usageLine(u: UsageSpec): string {
  const first = u.first ?? [];
  const last = u.last ?? [];
  const names = [...first, ...u.used.filter((n) => !first.includes(n) && !last.includes(n) && n !== u.drop), ...last];
  if (names.length === 0) return `${u.program} ${HELP[u.cmd]?.usage ?? u.cmd}`;
  return `${u.program} ${u.cmd} ${names.map(label).join(' ')}`;
}

/** The text clap prints on stderr for `e`. */
export function formatUsageError(e: UsageError): string {
  let s = `error: ${e.message}\n\n`;
  if (e.hint !== undefined) s += `\t${e.hint}\n\n`;
  if (e.usage !== undefined) s += `USAGE:\n    ${typeof e.usage === 'string' ? e.usage : usageLine(e.usage)}\n\n`;
  return `${s}For more information try --help\n`;
}
