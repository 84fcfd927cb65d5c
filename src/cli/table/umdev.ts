/**
 * umdev's own commands: they talk to umdevd (its API, its state dir, its device sockets) rather than to a sysfs tree
 * alone, and follow mdevctl's help layout.
 */
import { bool, exitWith, required, str, strings, u32, uuidArg, uuidOpt } from '../invocation.js';
import type { ArgDecl, CommandDecl, OptionDecl } from './types.js';

const API: OptionDecl = { long: 'api', value: '<SOCKET|URL>', help: "umdevd's control API (default: UMDEV_API, or the socket in <state-dir>/api.json)" };
const API_STATE_DIR: OptionDecl = {
  long: 'state-dir',
  value: '<DIR>',
  help: "umdevd's state directory, whose api.json names the API (default: UMDEV_STATE, else ./umdev-state if a umdevd holds it, else /var/lib/umdev)",
};
const STATE_DIR: OptionDecl = { long: 'state-dir', value: '<DIR>', help: "umdevd's state directory (default: UMDEV_STATE, else ./umdev-state if a umdevd holds it, else /var/lib/umdev)" };
const GROUP_UUID: OptionDecl = { long: 'uuid', short: 'u', value: '<UUID>', multiple: true, help: 'A device to switch; repeat for a group' };
const INSTEAD: OptionDecl = { long: 'uuid', short: 'u', value: '<UUID>', help: 'The device (instead of the positional UUID)' };
const DEVICES: ArgDecl = { name: '<UUID>...', help: 'The devices to attach', complete: 'uuid' };

/** online/offline: the devices, switched through umdevd's API when known, else through the sysfs files. */
function switchCommand(online: boolean): CommandDecl['run'] {
  return async ({ inv, ctx, io }) => {
    const raw = strings(inv.v, 'uuid');
    if (raw.length === 0) required(inv, ['--uuid <UUID>...']);
    const uuids = raw.map(uuidArg);
    return (await import('../online.js')).onlineCommand(ctx, { uuids, online, api: str(inv.v, 'api'), stateDir: str(inv.v, 'state-dir'), env: io.env });
  };
}

/** The UUIDs of qemu-args and vm: `--uuid` and the positional ones. */
function attachUuids(inv: Parameters<CommandDecl['run']>[0]['inv']): string[] {
  const raw = [...(str(inv.v, 'uuid') === undefined ? [] : [str(inv.v, 'uuid') as string]), ...inv.positionals];
  if (raw.length === 0) required(inv, ['<UUID>...']);
  return raw.map(uuidArg);
}

export const UMDEV_COMMANDS: readonly CommandDecl[] = [
  {
    name: 'online',
    about: 'Set one or more devices online (all or none)',
    long: `Set one or more devices online (all or none)

With umdevd's API known, one call switches the whole group in the core, all or nothing. Without it
(a kernel's sysfs, or a daemon without its API) each device's 'online' attribute is written in turn,
and the ones already switched are written back if a later one fails.`,
    usage: 'online [OPTIONS] --uuid <UUID>...',
    options: [GROUP_UUID, API, API_STATE_DIR],
    needs: 'tree',
    man: String.raw`\fBonline\fR|\fBoffline\fR \fB\-u\fR \fIUUID\fR... [\fB\-\-api\fR \fIURL\fR | \fB\-\-state\-dir\fR \fIDIR\fR]
Switch one device or a group online or offline, all or none (umdev).`,
    run: switchCommand(true),
  },
  {
    name: 'offline',
    about: 'Set one or more devices offline (all or none)',
    long: `Set one or more devices offline (all or none)

The reverse of online, with the same all-or-nothing rules.`,
    usage: 'offline [OPTIONS] --uuid <UUID>...',
    options: [GROUP_UUID, API, API_STATE_DIR],
    needs: 'tree',
    // Described with online.
    run: switchCommand(false),
  },
  {
    name: 'reset',
    about: 'Reset a mediated device',
    usage: 'reset --uuid <UUID>',
    options: [{ long: 'uuid', short: 'u', value: '<UUID>', help: 'UUID of the device to reset' }],
    required: ['uuid'],
    needs: 'tree',
    man: String.raw`\fBreset\fR \fB\-u\fR \fIUUID\fR
Reset a device (umdev).`,
    run: async ({ inv, ctx }) => {
      if (str(inv.v, 'uuid') === undefined) required(inv, ['--uuid <UUID>']);
      return (await import('../reset.js')).resetCommand(ctx, { uuid: uuidOpt(inv.v) ?? '' });
    },
  },
  {
    name: 'events',
    about: "Follow umdevd's event stream (NDJSON)",
    long: `Follow umdevd's event stream (NDJSON)

Prints one JSON object per core event (add, remove, online, offline, change, ...) as it happens.`,
    usage: 'events [OPTIONS]',
    options: [API, API_STATE_DIR, { long: 'count', short: 'n', value: '<N>', help: 'Stop after N events (default: follow until umdevd stops)' }],
    needs: 'none',
    man: String.raw`\fBevents\fR [\fB\-\-api\fR \fIURL\fR | \fB\-\-state\-dir\fR \fIDIR\fR] [\fB\-n\fR \fICOUNT\fR]
Follow umdevd's event stream, one JSON object per line (umdev).`,
    run: async ({ inv: { v }, ctx, io }) =>
      (await import('../events.js')).eventsCommand(ctx, { api: str(v, 'api'), stateDir: str(v, 'state-dir'), count: u32(v, 'count', '--count <N>'), signal: io.signal, env: io.env }),
  },
  {
    name: 'screenshot',
    about: "Save a device's screen as a PNG file",
    long: `Save a device's screen as a PNG file

Asks umdevd's API for the device's current framebuffer (GET /devices/<uuid>/screen.png) and writes it to FILE.
A device whose display is off (nothing set a mode) is "Device or resource busy"; one without a display (mtty) is
"Operation not supported".`,
    usage: 'screenshot [OPTIONS] <UUID> <FILE>',
    options: [INSTEAD, API, API_STATE_DIR],
    args: [
      { name: '<UUID>', help: 'The device', complete: 'uuid' },
      { name: '<FILE>', help: 'Where to write the PNG', complete: 'file' },
    ],
    needs: 'none',
    man: String.raw`\fBscreenshot\fR \fIUUID\fR \fIFILE\fR [\fB\-\-api\fR \fIURL\fR | \fB\-\-state\-dir\fR \fIDIR\fR]
Write the device's current screen to \fIFILE\fR as a PNG (umdev; mbochs devices). Fails with
"Device or resource busy" while the display is off, and "Operation not supported" for a device without a display.`,
    run: async ({ inv, ctx, io }) => {
      // UUID FILE, or --uuid UUID FILE.
      const { v, positionals } = inv;
      const u = str(v, 'uuid') ?? positionals[0];
      const file = str(v, 'uuid') === undefined ? positionals[1] : positionals[0];
      if (u === undefined || file === undefined) required(inv, u === undefined ? ['<UUID>', '<FILE>'] : ['<FILE>']);
      return (await import('../screenshot.js')).screenshotCommand(ctx, { uuid: uuidArg(u), file, api: str(v, 'api'), stateDir: str(v, 'state-dir'), env: io.env });
    },
  },
  {
    name: 'dashboard',
    about: "Serve a live web dashboard of umdevd's devices",
    long: `Serve a live web dashboard of umdevd's devices

Serves a web page showing parents, pools, devices, their clients and counters, mbochs screens and mtty console
output, live, and prints a URL with a one-time login token. The page acts with your rights on umdevd's API: as a
user outside root and the API group it is read-only. Listens on 127.0.0.1 unless --listen says otherwise.`,
    usage: 'dashboard [OPTIONS]',
    options: [
      API,
      API_STATE_DIR,
      { long: 'listen', value: '<HOST:PORT>', help: 'Where to listen (default 127.0.0.1 and any free port)' },
      { long: 'open', help: 'Open the URL with xdg-open' },
      { long: 'peer', value: '<NAME=ADDRESS>', multiple: true, help: 'A umdevd (socket or URL) the page may migrate devices to; token from UMDEV_DEST_TOKEN' },
    ],
    needs: 'checked',
    man: String.raw`\fBdashboard\fR [\fB\-\-listen\fR \fIHOST\fR:\fIPORT\fR] [\fB\-\-open\fR] [\fB\-\-peer\fR \fINAME\fR=\fIADDRESS\fR]... [\fB\-\-api\fR \fIURL\fR | \fB\-\-state\-dir\fR \fIDIR\fR]
Serve a live web dashboard of the daemon's parents, pools, devices, clients, counters, mbochs screens and mtty
console output (umdev), and print a login URL whose token works once. The page acts with the rights of the user
who runs the command: outside root and the API group it is read\-only. Listens on 127.0.0.1 and a free port unless
\fB\-\-listen\fR says otherwise; \fB\-\-peer\fR names a umdevd the page may migrate devices to.`,
    run: async ({ inv: { v }, ctx, io }) =>
      (await import('../dashboard.js')).dashboardCommand(ctx, { api: str(v, 'api'), stateDir: str(v, 'state-dir'), listen: str(v, 'listen'), open: bool(v, 'open'), peers: strings(v, 'peer'), signal: io.signal, env: io.env }),
  },
  {
    name: 'migrate',
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
      INSTEAD,
      { long: 'to', value: '<DEST>', help: "The destination umdevd's API: http://HOST:PORT (its TCP API) or a socket path" },
      { long: 'to-token-file', value: '<FILE>', help: "The destination's bearer token (its api.token; default: UMDEV_DEST_TOKEN)" },
      { long: 'max-bandwidth', value: '<BYTES>', help: 'Send at most this many stream bytes per second (default: no limit)' },
      { long: 'force', help: 'Migrate even though the attached client cannot follow (it is cut off)' },
      API,
      API_STATE_DIR,
    ],
    args: [{ name: '<UUID>', help: 'The device to move', complete: 'uuid' }],
    needs: 'none',
    man: String.raw`\fBmigrate\fR \fIUUID\fR \fB\-\-to\fR \fIDEST\fR [\fB\-\-to\-token\-file\fR \fIFILE\fR] [\fB\-\-force\fR] [\fB\-\-max\-bandwidth\fR \fIBYTES\fR] [\fB\-\-api\fR \fIURL\fR | \fB\-\-state\-dir\fR \fIDIR\fR]
Move a running device to another umdevd (live migration, umdev). The source daemon drives: the destination
(\fIDEST\fR: its API URL, or socket path) creates the same type and UUID, the device's state flows while it runs
(PRE_COPY) and after it stops (STOP_COPY), the destination writes the device's definition and runs it, and the
source device and definition are removed; its client reconnects to the destination's socket, which the last line
names. A client attached that never negotiated migration (QEMU 11.1) makes it fail with "Device or resource busy"
unless \fB\-\-force\fR, which cuts that client off. Any failure, and SIGINT or SIGTERM before the switch-over,
rolls back (exit status 128+signal after an interrupt). The destination's bearer token is read from
\fIFILE\fR or \fBUMDEV_DEST_TOKEN\fR. With \fB\-\-json\fR, one JSON object per step.`,
    run: async ({ inv, ctx, io }) => {
      const { v } = inv;
      const u = str(v, 'uuid') ?? inv.positionals[0];
      if (u === undefined) required(inv, ['<UUID>']);
      const to = str(v, 'to');
      if (to === undefined) required(inv, ['--to <DEST>']);
      const maxBandwidth = u32(v, 'max-bandwidth', '--max-bandwidth <BYTES>');
      const { migrateCommand } = await import('../migrate.js');
      exitWith(
        await migrateCommand(ctx, {
          uuid: uuidArg(u), to, tokenFile: str(v, 'to-token-file'), maxBandwidth: maxBandwidth === 0 ? undefined : maxBandwidth, force: bool(v, 'force'),
          api: str(v, 'api'), stateDir: str(v, 'state-dir'), env: io.env, signal: io.signal,
        }),
      );
    },
  },
  {
    name: 'exec',
    about: "Run a command where mdevctl sees umdevd's trees",
    long: `Run a command where mdevctl sees umdevd's trees

Enters a fresh private mount namespace with the state dir's sys bound over /sys and its mdevctl.d over
/etc/mdevctl.d, then runs the command there, so the unmodified mdevctl manages umdev devices. The namespace is
made anew on every call, so it always sees the running daemon's mount. The real /sys is hidden inside it. Needs
root.`,
    usage: 'exec [OPTIONS] -- <COMMAND>...',
    options: [STATE_DIR],
    args: [{ name: '<COMMAND>...', help: 'The command and its arguments, e.g. mdevctl types', complete: 'command' }],
    needs: 'none',
    man: String.raw`\fBexec\fR [\fB\-\-state\-dir\fR \fIDIR\fR] [\fB\-\-\fR] \fICOMMAND\fR [\fIARGS\fR...]
Run \fICOMMAND\fR in a fresh private mount namespace where umdevd's sysfs tree is bound over
.I /sys
and its definitions over
.IR /etc/mdevctl.d ,
so the unmodified
.BR mdevctl (8)
manages umdev devices (umdev; root). Exits with the command's status.`,
    run: async ({ inv, io }) => {
      if (inv.positionals.length === 0) required(inv, ['<COMMAND>...']);
      exitWith(await (await import('../exec.js')).execCommand({ stateDir: str(inv.v, 'state-dir'), command: inv.positionals, env: io.env }));
    },
  },
  {
    name: 'shell',
    about: "Start $SHELL where mdevctl sees umdevd's trees",
    long: `Start $SHELL where mdevctl sees umdevd's trees

umdevctl exec -- $SHELL. After umdevd restarts, leave the shell and start a new one: the old namespace holds
the old daemon's mount ("Transport endpoint is not connected").`,
    usage: 'shell [OPTIONS]',
    options: [STATE_DIR],
    needs: 'none',
    man: String.raw`\fBshell\fR [\fB\-\-state\-dir\fR \fIDIR\fR]
The same, running \fB$SHELL\fR (umdev; root).`,
    run: async ({ inv, io }) => exitWith(await (await import('../exec.js')).execCommand({ stateDir: str(inv.v, 'state-dir'), command: [io.env.SHELL ?? '/bin/sh'], env: io.env })),
  },
  {
    name: 'qemu-args',
    about: 'Print the QEMU arguments that attach devices',
    long: `Print the QEMU arguments that attach devices

QEMU 10.1 or later: a shared memfd RAM backend (vfio-user passes guest memory to umdevd as fds) and one
vfio-user-pci device per UUID on its socket. Every argument is one shell word that needs no quoting, so
$(umdevctl qemu-args UUID) works as well as the printed text; --json prints {"args":[...]}.`,
    usage: 'qemu-args [OPTIONS] <UUID>...',
    options: [INSTEAD, STATE_DIR, { long: 'memory', short: 'm', value: '<SIZE>', help: 'Guest RAM size, as QEMU writes it (default 1G)' }],
    args: [DEVICES],
    needs: 'none',
    man: String.raw`\fBqemu\-args\fR \fIUUID\fR... [\fB\-m\fR \fISIZE\fR] [\fB\-\-state\-dir\fR \fIDIR\fR]
Print the QEMU (10.1 or later) arguments that attach the devices: guest RAM as a shared memfd of \fISIZE\fR
(default 1G) and one \fBvfio\-user\-pci\fR device per UUID, as shell words that need no quoting, so
\fB$(umdevctl qemu\-args\fR \fIUUID\fR\fB)\fR works (umdev). With \fB\-\-json\fR, \fB{"args":[...]}\fR.`,
    run: async ({ inv, ctx, io }) => {
      const uuids = attachUuids(inv);
      return (await import('../qemu-args.js')).qemuArgsCommand(ctx, { uuids, stateDir: str(inv.v, 'state-dir'), memory: str(inv.v, 'memory'), env: io.env });
    },
  },
  {
    name: 'vm',
    about: 'Boot a Linux guest with devices attached',
    long: `Boot a Linux guest with devices attached

Runs the VM tier's QEMU (from /var/cache/umdev/vm-root, or UMDEV_VM_ROOT; built first when missing) with the
devices on their sockets, a Debian guest kernel and a busybox initramfs that loads the devices' drivers and
reports each device on the serial console, which is this terminal. The guest then powers off; with --console it
gives a shell until poweroff (or QEMU's Ctrl-A X). Needs root. Exits with QEMU's status.`,
    usage: 'vm [OPTIONS] <UUID>...',
    options: [STATE_DIR, { long: 'memory', short: 'm', value: '<SIZE>', help: 'Guest RAM, 128M to 64G (default 512M)' }, { long: 'console', help: "Give the guest's serial console this terminal's input: a shell" }],
    args: [DEVICES],
    needs: 'none',
    man: String.raw`\fBvm\fR \fIUUID\fR... [\fB\-\-console\fR] [\fB\-m\fR \fISIZE\fR] [\fB\-\-state\-dir\fR \fIDIR\fR]
Boot a Linux guest with the devices attached, under the QEMU of the VM root (\fI/var/cache/umdev/vm\-root\fR, or
\fBUMDEV_VM_ROOT\fR; built first when missing). The guest loads the devices' drivers and reports each device on its
serial console, which is this terminal; it then powers off, or with \fB\-\-console\fR gives a shell until
\fBpoweroff\fR (umdev; root). Exits with QEMU's status.`,
    run: async ({ inv, ctx, io }) => {
      const uuids = attachUuids(inv);
      const { vmCommand } = await import('../vm.js');
      exitWith(await vmCommand(ctx, { uuids, stateDir: str(inv.v, 'state-dir'), memory: str(inv.v, 'memory'), console: bool(inv.v, 'console'), env: io.env, signal: io.signal }));
    },
  },
  {
    name: 'where',
    about: 'Say which umdevd the tools talk to, and where it keeps its trees',
    long: `Say which umdevd the tools talk to, and where it keeps its trees

Applies the rule every umdev tool uses to find umdevd's state directory (--state-dir, UMDEV_STATE, ./umdev-state
if a umdevd holds it, /var/lib/umdev), says which step chose it and whether a umdevd holds it, and where that
daemon keeps its sysfs tree, its definitions and its device sockets. With --json, one JSON object.`,
    usage: 'where [OPTIONS]',
    options: [STATE_DIR],
    needs: 'none',
    man: String.raw`\fBwhere\fR [\fB\-\-state\-dir\fR \fIDIR\fR]
Say which umdevd state directory the tools use and why (the flag, \fBUMDEV_STATE\fR, a live \fI./umdev\-state\fR,
or \fI/var/lib/umdev\fR), whether a umdevd holds it, and where it keeps its tree, definitions and device sockets
(umdev). With \fB\-\-json\fR, one JSON object.`,
    run: async ({ inv, ctx, io }) => (await import('../where.js')).whereCommand(ctx, { stateDir: str(inv.v, 'state-dir'), env: io.env }),
  },
];
