/**
 * The README's VM path, followed as a user would: with umdevd running in the working directory (its default
 * `./umdev-state`) and a device `$U` made with the unmodified mdevctl, the documentation's `vm` blocks (README.md,
 * docs/vm.md: `./bin/umdevctl vm "$U" [--console]`) run as written in bash; on the console one, the test types a
 * command at the guest's shell and the guest answers. Then `qemu-system-x86_64 $(./bin/umdevctl qemu-args "$U") …`
 * boots the VM root's QEMU, the shell expanding the arguments as it would for a person. Needs ./setup --vm.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { type RunningDaemon, startDaemon, unmountIfMounted } from '../test/e2e/umdevd-process.js';
import { CHECKOUT, blocksOf } from '../test/docs/blocks.js';
import { writeInitramfs } from '../src/vm/initramfs.js';
import { guestKernel, vmRoot } from '../src/vm/qemu.js';
import { exec } from '../test/process.js';

const BOOT_LIMIT_MS = 150_000;
const INIT_USER = path.join(CHECKOUT, 'vm/guest/init-user');

/** A working directory holding the checkout's files (as a clone would) and a umdevd in its ./umdev-state. */
async function workdir(t: TestContext): Promise<{ dir: string; daemon: RunningDaemon; uuid: string }> {
  const dir = await mkdtemp('/tmp/umdev-userpath-');
  for (const name of await readdir(CHECKOUT)) {
    if (name !== '.git' && !name.startsWith('umdev-')) await symlink(path.join(CHECKOUT, name), path.join(dir, name));
  }
  const state = path.join(dir, 'umdev-state');
  const daemon = await startDaemon(state);
  t.after(async () => {
    process.kill(daemon.pid, 'SIGTERM');
    await daemon.exited;
    await unmountIfMounted(path.join(state, 'sys'));
    await rm(dir, { recursive: true, force: true });
  });
  const made = await exec(path.join(dir, 'bin/umdevctl'), ['exec', '--', 'mdevctl', 'start', '-p', 'mtty', '-t', 'mtty-2'], { cwd: dir });
  assert.equal(made.code, 0, made.stderr);
  return { dir, daemon, uuid: made.stdout.trim() };
}

/** bash running `code` in `dir` with `$U` set; stdin a pipe for typing on the console. */
function shell(dir: string, code: string, env: Record<string, string>) {
  const p = spawn('bash', ['-c', code], { cwd: dir, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  let out = '';
  p.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  p.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
  p.stdin.on('error', () => undefined);
  const timer = setTimeout(() => process.kill(-p.pid!, 'SIGKILL'), BOOT_LIMIT_MS);
  const exited = once(p, 'exit').then(([code]) => {
    clearTimeout(timer);
    return code as number | null;
  });
  const sees = async (pattern: RegExp): Promise<void> => {
    const deadline = Date.now() + BOOT_LIMIT_MS;
    while (!pattern.test(out)) {
      if (Date.now() > deadline || p.exitCode !== null) throw new Error(`no ${pattern} on the console:\n${out.slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  return { type: (s: string) => p.stdin.write(s), sees, exited, out: () => out };
}

const vmBlocks = ['README.md', 'docs/vm.md'].flatMap((f) => blocksOf(f)).filter((b) => b.mode.kind === 'vm');

test('the documentation has the one-command VM blocks this test runs', () => {
  assert.ok(vmBlocks.some((b) => b.file === 'README.md' && b.code.includes('--console')), 'README boots a VM with its console');
  assert.ok(vmBlocks.every((b) => /^\.\/bin\/umdevctl vm "\$U"( --console)?$/.test(b.code.trim())), vmBlocks.map((b) => b.code).join('\n'));
});

for (const block of vmBlocks) {
  test(`${block.file}:${block.line}: \`${block.code.trim()}\` boots a guest that sees the device${block.code.includes('--console') ? ' and answers on its console' : ''}`, { timeout: BOOT_LIMIT_MS + 60_000 }, async (t) => {
    vmRoot();
    const { dir, uuid } = await workdir(t);
    const vm = shell(dir, block.code, { U: uuid });
    await vm.sees(/umdev-guest: 0000:00:0\d\.0 \[4348:3253\] mtty-2 driver=serial ports=ttyS4 ttyS5/);
    await vm.sees(/umdev-guest: 1 umdev device\(s\) found/);
    if (block.code.includes('--console')) {
      await vm.sees(/a shell on the console; poweroff ends the VM/);
      await vm.sees(/~ # /);
      // The shell's first read can swallow what is typed before it asks for the terminal's size: type, and retype
      // until the answer comes.
      for (let i = 0; i < 20 && !/answer-42/.test(vm.out()); i++) {
        vm.type('echo answer-$((6*7))\n');
        await new Promise((r) => setTimeout(r, 1500));
      }
      await vm.sees(/answer-42/);
      vm.type('poweroff\n');
    } else {
      await vm.sees(/umdev-guest: done; powering off/);
    }
    assert.equal(await vm.exited, 0, vm.out().slice(-4000));
    assert.doesNotMatch(vm.out(), /error reply/, 'QEMU logged no failed vfio-user request');
  });
}

test('qemu-system-x86_64 $(./bin/umdevctl qemu-args "$U") … boots the VM root\'s QEMU with the device', { timeout: BOOT_LIMIT_MS + 60_000 }, async (t) => {
  const root = vmRoot();
  const { dir, uuid } = await workdir(t);
  await writeInitramfs(path.join(dir, 'initrd.gz'), path.join(root, 'bin/busybox'), INIT_USER);
  const run = path.join(dir, 'umdev-state', 'run');
  // The mount point made inside the root for the bind (the binds themselves die with the namespace).
  t.after(() => rm(path.join(root, dir), { recursive: true, force: true }));
  // QEMU runs chrooted into the VM root, where the device's socket must be at the path umdevctl prints: the run
  // dir is bound at the same path inside it, in a private mount namespace that takes the binds away at the end.
  const code = [
    'set -e',
    'mkdir -p "$ROOT$RUN" "$ROOT/umdev-boot"',
    'mount --bind "$RUN" "$ROOT$RUN"; mount --bind "$PWD" "$ROOT/umdev-boot"; mount --bind /proc "$ROOT/proc"; mount --bind /dev "$ROOT/dev"',
    `exec chroot "$ROOT" qemu-system-x86_64 $(./bin/umdevctl qemu-args "$U" --memory 512M) -accel tcg -nographic -vga none -nic none -no-reboot \\
      -kernel ${guestKernel(root)} -initrd /umdev-boot/initrd.gz -append 'console=ttyS0 8250.nr_uarts=8 panic=-1 loglevel=3'`,
  ].join('\n');
  await writeFile(path.join(dir, 'boot.sh'), `${code}\n`);
  const vm = shell(dir, 'exec unshare -m --propagation private bash boot.sh', { U: uuid, ROOT: root, RUN: run });
  await vm.sees(/umdev-guest: 0000:00:0\d\.0 \[4348:3253\] mtty-2 driver=serial ports=ttyS4 ttyS5/);
  await vm.sees(/umdev-guest: done; powering off/);
  assert.equal(await vm.exited, 0, vm.out().slice(-4000));
  assert.doesNotMatch(vm.out(), /error reply|is not a valid device model name/);
});
