/**
 * Runs a guest under the VM root's QEMU (>= 10.1) with one umdev device attached through `vfio-user-pci`.
 *
 * QEMU runs chrooted into the VM root (see build-root.sh), in a private mount namespace where a host directory
 * (the daemon's state dir: its sockets and the initramfs) appears as `/umdev` and /proc and /dev are bound for
 * QEMU; the binds vanish with the process. The guest is booted with TCG: these machines have /dev/kvm, but a
 * nested KVM guest dies in the kernel decompressor.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';

/** Where build-root.sh puts the root unless UMDEV_VM_ROOT says otherwise. */
export const VM_ROOT = process.env.UMDEV_VM_ROOT ?? '/var/cache/umdev/vm-root';
/** Where the host directory appears inside the root. */
export const GUEST_SHARE = '/umdev';
const STAMP = '.umdev-vm-root';

/** The VM root, checked; throws with what to run when it is missing. */
export function vmRoot(root = VM_ROOT): string {
  if (!existsSync(path.join(root, STAMP))) {
    throw new Error(`the VM tier needs its QEMU root at ${root}: run \`./setup --vm\` as root (debootstrap of Debian trixie with qemu-system-x86 from trixie-backports, a few minutes, ~800 MB)`);
  }
  return root;
}

/** The guest kernel inside the root (path as QEMU sees it), the newest if several. */
export function guestKernel(root: string): string {
  const kernels = readdirSync(path.join(root, 'boot')).filter((f) => f.startsWith('vmlinuz-')).sort();
  if (kernels.length === 0) throw new Error(`no guest kernel in ${root}/boot: rebuild the root with ./setup --vm`);
  return `/boot/${kernels.at(-1)!}`;
}

export interface GuestOptions {
  /** Guest kernel and initramfs, as paths inside the root. */
  readonly kernel: string;
  readonly initrd: string;
  /** The device's vfio-user socket, as a path inside the root. */
  readonly socket?: string;
  /** Several devices' sockets, as paths inside the root (after `socket`, if both are given). */
  readonly sockets?: readonly string[];
  readonly memoryMiB?: number;
  /** The kernel command line (default: the mtty guest's, with room for its serial ports). */
  readonly append?: string;
  /** Extra QEMU arguments (e.g. `-trace` events, printed on QEMU's stderr). */
  readonly extra?: readonly string[];
  /** Give the guest's serial console an input (QEMU's stdin) for `RunningGuest.send`; otherwise it has none. */
  readonly input?: boolean;
  /** A guest reboot resets the machine and boots again (default: QEMU exits, `-no-reboot`). */
  readonly reboot?: boolean;
  /** Put the device behind a PCIe root port it can be hot-unplugged from (QEMU unplugs it on the device's REQ). */
  readonly hotplug?: boolean;
  /** QEMU's human monitor on this unix socket (a path inside the root), as a management layer would drive it. */
  readonly monitor?: string;
}

/**
 * QEMU's command line. Guest RAM is a shared memfd backend because vfio-user hands guest memory to the device
 * server as fds (DMA_MAP); `8250.nr_uarts=8` leaves room for the card's ports after the four legacy ones.
 */
export function qemuArgs(o: GuestOptions): string[] {
  const mem = `${o.memoryMiB ?? 256}M`;
  // With `hotplug`, the (first) device sits behind a root port it can be unplugged from.
  const devices = [...(o.socket === undefined ? [] : [o.socket]), ...(o.sockets ?? [])].flatMap((path, i) => [
    '-device',
    JSON.stringify({ driver: 'vfio-user-pci', socket: { path, type: 'unix' }, ...(o.hotplug === true && i === 0 ? { bus: 'hotplug0', id: 'umdev0' } : {}) }),
  ]);
  return [
    '-accel', 'tcg',
    '-m', mem,
    '-object', `memory-backend-memfd,id=mem,size=${mem},share=on`,
    '-machine', 'q35,memory-backend=mem',
    '-nographic', '-vga', 'none', '-nic', 'none', ...(o.reboot === true ? [] : ['-no-reboot']), '-no-user-config',
    '-kernel', o.kernel,
    '-initrd', o.initrd,
    '-append', o.append ?? 'console=ttyS0 8250.nr_uarts=8 panic=-1 loglevel=4',
    ...(o.hotplug === true ? ['-device', 'pcie-root-port,id=hotplug0,chassis=1,slot=1'] : []),
    ...(o.monitor === undefined ? [] : ['-monitor', `unix:${o.monitor},server=on,wait=off`]),
    ...devices,
    ...(o.extra ?? []),
  ];
}

/** How a guest run ended. `console` is the guest's serial console (QEMU's stdout). */
export interface GuestRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly console: string;
  readonly stderr: string;
  readonly ms: number;
  readonly timedOut: boolean;
}

/** A guest while it runs: its console so far, a way to type on it, and how it ended. */
export interface RunningGuest {
  readonly console: () => string;
  /** Text typed on the guest's serial console (QEMU's stdin; needs `input: true`); nothing once the guest has ended. */
  send(text: string): void;
  /** Resolves once the console shows `pattern` (true), or false when the guest ended or `timeoutMs` passed first. */
  waitForConsole(pattern: RegExp, timeoutMs: number): Promise<boolean>;
  /** Kill QEMU outright (SIGKILL), as a crash or an impatient manager would. */
  kill(): void;
  readonly done: Promise<GuestRun>;
}

/**
 * The command that runs QEMU with `args` chrooted into `root`, with each `[host, inRoot]` of `binds` bound there
 * (`inRoot` is made first) and /proc and /dev for QEMU, in a private mount namespace that takes the binds away when
 * QEMU exits. unshare and sh exec into QEMU: one pid from start to end. Returns `[file, argv]` for spawn.
 */
export function chrootedQemu(root: string, binds: ReadonlyArray<readonly [string, string]>, args: readonly string[]): [string, string[]] {
  for (const [, inRoot] of binds) mkdirSync(path.join(root, inRoot), { recursive: true });
  const mounts = binds.map((_, i) => `mount --bind "$${i + 2}" "$1${binds[i]![1]}"`).join('; ');
  const script = `set -e; ${mounts}${mounts === '' ? '' : '; '}mount --bind /proc "$1/proc"; mount --bind /dev "$1/dev"; root=$1; shift ${binds.length + 1}; exec chroot "$root" qemu-system-x86_64 "$@"`;
  return ['unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', root, ...binds.map(([host]) => host), ...args]];
}

/**
 * Boot the guest with `hostDir` visible as `/umdev` in the root, killing QEMU after `timeoutMs`. QEMU is this
 * process's child, ended by its pid.
 */
export function startGuest(root: string, hostDir: string, o: GuestOptions, timeoutMs: number): RunningGuest {
  const started = Date.now();
  const [file, argv] = chrootedQemu(root, [[hostDir, GUEST_SHARE]], qemuArgs(o));
  const proc = spawn(file, argv, {
    stdio: [o.input === true ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  }) as ChildProcessByStdio<Writable | null, Readable, Readable>;
  let out = '';
  let err = '';
  let ended = false;
  proc.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  proc.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  // QEMU may exit before reading what was typed.
  proc.stdin?.on('error', () => undefined);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill('SIGKILL');
  }, timeoutMs);
  const done = (async (): Promise<GuestRun> => {
    const [code, signal] = (await once(proc, 'exit')) as [number | null, NodeJS.Signals | null];
    ended = true;
    clearTimeout(timer);
    proc.stdin?.destroy();
    return { code, signal, console: out, stderr: err, ms: Date.now() - started, timedOut };
  })();
  return {
    console: () => out,
    send: (text) => {
      if (proc.stdin === null) throw new Error('the guest has no console input: start it with input: true');
      if (!ended) proc.stdin.write(text);
    },
    kill: () => {
      if (!ended) proc.kill('SIGKILL');
    },
    waitForConsole: async (pattern, ms) => {
      const deadline = Date.now() + ms;
      while (!pattern.test(out)) {
        if (ended || Date.now() > deadline) return false;
        await new Promise((r) => setTimeout(r, 50));
      }
      return true;
    },
    done,
  };
}

/** Boot the guest and wait for QEMU to exit (the guest powers off); see `startGuest`. */
export function runGuest(root: string, hostDir: string, o: GuestOptions, timeoutMs: number): Promise<GuestRun> {
  return startGuest(root, hostDir, o, timeoutMs).done;
}

/** The QEMU version line of the root, for messages. */
export function rootRecipe(root: string): string {
  return readFileSync(path.join(root, STAMP), 'utf8').trim();
}
