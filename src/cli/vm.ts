/**
 * Concepts: `umdevctl vm UUID... [--console]` boots a Linux guest with umdev devices attached, so a person can see a
 * device work in a VM without assembling QEMU, a kernel and an initramfs. It runs the VM tier's QEMU (>= 10.1, from
 * the Debian trixie root `vm/build-root.sh` makes, built here on first use with its progress shown) chrooted in a
 * private mount namespace, with the daemon's socket dir bound inside; the guest is the root's kernel with a busybox
 * initramfs whose `/init` (`vm/guest/init-user`) loads the drivers and reports each device. QEMU's stdio is this
 * terminal: the serial console streams here, and with `--console` it takes input too (a busybox shell; QEMU's own
 * Ctrl-A X also quits). Root only: mount namespaces and chroot.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { constants } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fail } from '../mdevctl/failure.js';
import { guestModules } from '../vm/guest-modules.js';
import { writeInitramfs } from '../vm/initramfs.js';
import { GUEST_SHARE, VM_ROOT, chrootedQemu, guestKernel, qemuArgs, vmRoot } from '../vm/qemu.js';
import type { CliContext } from './io.js';
import { deviceSockets } from './qemu-args.js';

export interface VmOptions {
  readonly uuids: readonly string[];
  readonly stateDir?: string;
  /** Guest RAM in QEMU's size syntax (`512M`, `1G`); default 512M. */
  readonly memory?: string;
  /** Give the guest's serial console this terminal's input: a shell, instead of powering off after the report. */
  readonly console: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Aborted with the signal's name on Ctrl-C (QEMU is ended by its pid). */
  readonly signal?: AbortSignal;
}

const BUILD_ROOT = fileURLToPath(new URL('../../../vm/build-root.sh', import.meta.url));
const INIT = fileURLToPath(new URL('../../../vm/guest/init-user', import.meta.url));
/** What an mbochs needs in the guest besides the built-in PCI and serial drivers. */
const DISPLAY_MODULES = ['bochs'];
/** Where the device sockets appear inside the root. */
const SOCKETS_IN_ROOT = '/umdev-run';

function mebibytes(size: string): number {
  const m = /^([0-9]+)([MG]?)$/.exec(size);
  if (m === null) throw fail('EINVAL', `--memory ${size}: expected a size such as 512M or 1G`);
  const n = Number(m[1]) * (m[2] === 'G' ? 1024 : 1);
  if (n < 128 || n > 65536) throw fail('EINVAL', `--memory ${size}: expected 128M to 64G`);
  return n;
}

/** The VM root, built first when it is missing (its progress on stderr). */
function ensureRoot(ctx: CliContext): string {
  if (existsSync(path.join(VM_ROOT, '.umdev-vm-root'))) return vmRoot();
  ctx.stderr.write(`umdevctl vm: no VM root at ${VM_ROOT} yet: building it with vm/build-root.sh (Debian trixie with QEMU 11, a guest kernel and busybox; a few minutes, about 800 MB)\n`);
  const r = spawnSync(BUILD_ROOT, [], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw fail('EIO', `vm/build-root.sh failed (exit ${r.status ?? r.signal}): see its output above`);
  return vmRoot();
}

/** Boots the guest and resolves with QEMU's exit status (128+signal when a signal ended it). */
export async function vmCommand(ctx: CliContext, opts: VmOptions): Promise<number> {
  if (process.getuid?.() !== 0) throw fail('EPERM', 'umdevctl vm needs root: it runs QEMU chrooted into the VM root in a private mount namespace');
  const memoryMiB = mebibytes(opts.memory ?? '512M');
  const sockets = await deviceSockets(opts.uuids, opts.stateDir, opts.env);
  const runDir = path.dirname(sockets[0]!);
  if (sockets.some((s) => path.dirname(s) !== runDir)) throw fail('EINVAL', 'the devices must be served by one umdevd');
  const root = ensureRoot(ctx);
  const kernel = guestKernel(root);
  const work = await mkdtemp('/tmp/umdevctl-vm-');
  try {
    const modules = guestModules(root, kernel, DISPLAY_MODULES);
    await writeInitramfs(path.join(work, 'initrd.gz'), path.join(root, 'bin/busybox'), INIT, { dirs: ['modules', 'etc'], files: modules.files });
    const args = qemuArgs({
      kernel,
      initrd: `${GUEST_SHARE}/initrd.gz`,
      sockets: sockets.map((s) => `${SOCKETS_IN_ROOT}/${path.basename(s)}`),
      memoryMiB,
      append: `console=ttyS0 8250.nr_uarts=8 panic=-1 loglevel=3${opts.console ? ' umdev.console=1' : ''}`,
    });
    const [file, argv] = chrootedQemu(root, [[work, GUEST_SHARE], [runDir, SOCKETS_IN_ROOT]], args);
    const n = sockets.length;
    ctx.stderr.write(
      `umdevctl vm: booting ${path.basename(kernel)} under QEMU (TCG, ${memoryMiB} MiB) with ${n} device${n === 1 ? '' : 's'}; ` +
        `${opts.console ? 'the console is this terminal (poweroff, or Ctrl-A X, ends it)' : 'the console follows, and the guest powers off after its report'}\n`,
    );
    const qemu = spawn(file, argv, { stdio: [opts.console ? 'inherit' : 'ignore', 'inherit', 'inherit'] });
    const onAbort = (): void => {
      qemu.kill('SIGTERM');
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await new Promise<number>((resolve, reject) => {
        qemu.on('error', (e) => reject(fail('ENOENT', `cannot run unshare (Debian package util-linux): ${e.message}`)));
        qemu.on('exit', (code, sig) => resolve(code ?? 128 + (sig === null ? 0 : constants.signals[sig])));
      });
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
