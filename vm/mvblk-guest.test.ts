/**
 * The real-VMM tier for mvblk: umdevd serves two mvblk disks, created and given their backing files through its
 * sysfs (`backing` under the state dir's `images`), and QEMU's vfio-user-pci attaches both to a Linux guest under
 * TCG. The guest's own virtio_blk driver binds them; every byte it reads or writes moves by DMA between the device
 * host and guest RAM (a shared memfd QEMU maps to the device).
 *
 * Disk 1 holds an ext4 file system made here (`mke2fs -d` from files of random bytes): the guest reads every file
 * and hashes it, writes new files (one of 64 MiB), syncs and unmounts. After QEMU exits, `e2fsck -fn` finds the
 * file system clean and the new files (taken out with debugfs) hash as the guest said. Disk 2 is raw random bytes:
 * the guest reads 1..4 MiB blocks with O_DIRECT and copies 8 MiB with O_DIRECT both ways; the host compares byte
 * for byte. Needs the VM root (./setup --vm) and e2fsprogs on the host.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { start, stateDir } from '../test/e2e/umdevd-process.js';
import { facts, waitFor } from './guest-facts.js';
import { guestModules } from '../src/vm/guest-modules.js';
import { writeInitramfs } from '../src/vm/initramfs.js';
import { GUEST_SHARE, guestKernel, rootRecipe, startGuest, vmRoot } from '../src/vm/qemu.js';

const BOOT_LIMIT_MS = 420_000;
const INIT = fileURLToPath(new URL('../../vm/guest/init-mvblk', import.meta.url));
const MiB = 1 << 20;
const FS_BYTES = 256 * MiB;
const RAW_BYTES = 64 * MiB;

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Files of random bytes in `dir` (sizes at the page and block edges, a few MiB, nested directories); name → hash. */
function makeTree(dir: string): Map<string, string> {
  const sizes = [0, 1, 511, 512, 513, 4095, 4096, 4097, 65536, 100_000, MiB - 1, MiB, MiB + 1, 3 * MiB + 7];
  const out = new Map<string, string>();
  let i = 0;
  for (const sub of ['.', 'a', 'a/b', 'c']) {
    mkdirSync(path.join(dir, sub), { recursive: true });
    for (const size of sizes) {
      const name = path.normalize(path.join(sub, `f${i++}-${size}`));
      const data = randomBytes(size);
      writeFileSync(path.join(dir, name), data);
      out.set(name, sha256(data));
    }
  }
  return out;
}

/** `tool` from e2fsprogs, or a failure saying what to install. */
function e2fs(tool: string, args: readonly string[]): Buffer {
  try {
    return execFileSync(tool, args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 * MiB });
  } catch (e) {
    const x = e as { code?: string; status?: number; stdout?: Buffer; stderr?: Buffer };
    if (x.code === 'ENOENT') throw new Error(`the mvblk VM test needs ${tool}: apt-get install e2fsprogs`);
    throw new Error(`${tool} ${args.join(' ')} exited ${x.status}: ${x.stdout?.toString()}${x.stderr?.toString()}`);
  }
}

test('a Linux guest mounts ext4 on an umdev virtio-blk disk, reads and writes files, and does direct I/O on another', { timeout: BOOT_LIMIT_MS + 120_000 }, async (t) => {
  const root = vmRoot();
  const kernel = guestKernel(root);
  const ctx = await stateDir(t, 'umdev-vm-mvblk-');
  const images = path.join(ctx.dir, 'images');
  mkdirSync(images, { recursive: true });

  // Disk 1: ext4 made from a tree of random files. Disk 2: random bytes.
  const tree = path.join(ctx.dir, 'tree');
  const manifest = makeTree(tree);
  const fsImage = path.join(images, 'fs.img');
  e2fs('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'umdev', '-d', tree, fsImage, `${FS_BYTES / 1024}k`]);
  const raw = randomBytes(RAW_BYTES);
  const rawImage = path.join(images, 'raw.img');
  writeFileSync(rawImage, raw);

  await writeFile(path.join(ctx.dir, 'umdevd.json'), JSON.stringify({ parents: [{ driver: 'mvblk' }] }));
  const daemon = await start(ctx, ['--config', path.join(ctx.dir, 'umdevd.json'), '--log-level', 'debug']);
  const typeDir = path.join(ctx.dir, 'sys/class/mdev_bus/mvblk/mdev_supported_types/mvblk-small');
  const disks = [
    { uuid: randomUUID(), backing: 'fs.img' },
    { uuid: randomUUID(), backing: rawImage },
  ];
  for (const d of disks) {
    await writeFile(path.join(typeDir, 'create'), d.uuid);
    // As mdevctl's --addattr writes it: relative to the images directory, or an absolute path inside it.
    await writeFile(path.join(ctx.dir, 'sys/bus/mdev/devices', d.uuid, 'backing'), d.backing);
    await waitFor(path.join(ctx.dir, 'run', `${d.uuid}.sock`), 5000);
  }
  assert.equal(readFileSync(path.join(ctx.dir, 'sys/bus/mdev/devices', disks[0]!.uuid, 'backing'), 'utf8'), `${fsImage}\n`);

  const modules = guestModules(root, kernel, ['virtio_blk', 'crc32c_generic', 'ext4']);
  await writeInitramfs(path.join(ctx.dir, 'initrd.gz'), path.join(root, 'bin/busybox'), INIT, {
    dirs: ['modules'],
    files: [
      ...modules.files,
      { name: 'manifest', data: Buffer.from([...manifest].map(([name, sum]) => `${sum} ${name}\n`).join('')) },
      { name: 'fs-sectors', data: Buffer.from(`${FS_BYTES / 512}\n`) },
      { name: 'raw-sectors', data: Buffer.from(`${RAW_BYTES / 512}\n`) },
    ],
  });
  const second = { driver: 'vfio-user-pci', socket: { path: `${GUEST_SHARE}/run/${disks[1]!.uuid}.sock`, type: 'unix' } };
  const guest = startGuest(
    root,
    ctx.dir,
    {
      kernel,
      initrd: `${GUEST_SHARE}/initrd.gz`,
      socket: `${GUEST_SHARE}/run/${disks[0]!.uuid}.sock`,
      memoryMiB: 512,
      append: 'console=ttyS0 panic=-1 loglevel=4',
      extra: ['-device', JSON.stringify(second)],
    },
    BOOT_LIMIT_MS,
  );
  const run = await guest.done;
  const seen = facts(run.console);
  const context = `${rootRecipe(root)}; guest ran ${run.ms} ms\n--- guest console ---\n${run.console.slice(-6000)}\n--- QEMU stderr ---\n${run.stderr.slice(-4000)}\n--- umdevd ---\n${daemon.stderr().slice(-4000)}`;
  t.diagnostic(`guest boot, file system and raw I/O: ${run.ms} ms`);
  assert.ok(!run.timedOut, `the guest did not power off within ${BOOT_LIMIT_MS} ms\n${context}`);
  assert.equal(run.code, 0, `QEMU exited with ${run.code ?? run.signal}\n${context}`);
  assert.deepEqual(seen.at(-1), ['done'], `the guest's checks did not finish\n${context}`);
  assert.deepEqual(seen.filter((f) => f[0] === 'fail'), [], context);
  const find = (head: string): string[][] => seen.filter((f) => f[0] === head);

  // Both disks are 1af4:1042 bound to virtio_blk.
  const found = find('disk');
  assert.equal(found.length, 2, context);
  for (const d of found) assert.deepEqual(d.slice(3), ['0x1af4', '0x1042', 'virtio_blk'], context);

  // Every file read back in the guest hashes as written here.
  const read = new Map(find('file').map((f) => [f[1]!, f[2]!]));
  assert.equal(read.size, manifest.size, context);
  for (const [name, sum] of manifest) assert.equal(read.get(name), sum, `${name} read back in the guest`);

  // The file system is clean after the guest's writes, and its new files hash as the guest said.
  assert.ok(find('synced').length === 1, context);
  e2fs('e2fsck', ['-fn', fsImage]);
  const wrote = find('wrote');
  assert.equal(wrote.length, 9, context);
  for (const [, name, sum] of wrote) {
    const out = path.join(ctx.dir, 'out');
    e2fs('debugfs', ['-R', `dump /${name} ${out}`, fsImage]);
    const data = readFileSync(out);
    if (name === 'new/big') assert.equal(data.length, 64 * MiB);
    assert.equal(sha256(data), sum, `${name} on the host`);
  }

  // Direct reads saw the raw bytes; direct copies landed byte for byte.
  for (const [, bs, sum] of find('rawread')) assert.equal(sum, sha256(raw.subarray(0, Number(bs) * MiB)), `a ${bs} MiB direct read`);
  assert.equal(find('rawread').length, 4, context);
  const after = readFileSync(rawImage);
  for (const [, , at] of find('rawcopy')) {
    const off = Number(at) * MiB;
    assert.ok(after.subarray(off, off + 8 * MiB).equals(raw.subarray(0, 8 * MiB)), `the direct copy at ${at} MiB`);
  }
  assert.equal(find('rawcopy').length, 3, context);
  assert.ok(after.subarray(0, 16 * MiB).equals(raw.subarray(0, 16 * MiB)), 'nothing else of the raw disk changed');

  // Nothing failed on the wire.
  assert.deepEqual(run.stderr.split('\n').filter((l) => l.includes('error reply')), [], context);
  const failures = daemon.stderr().split('\n').filter((l) => l.includes('vfio-user') && /\bfailed\b|unexpected fd|stopped:/.test(l));
  assert.deepEqual(failures, [], 'umdevd logged failed vfio-user requests');
});
