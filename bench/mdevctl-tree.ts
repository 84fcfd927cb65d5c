/**
 * Concepts: what the real `mdevctl list` and `mdevctl types` cost against umdevd's sysfs tree with many devices,
 * against the same tree written out on a tmpfs. The daemon as shipped creates DEVICES single-port mtty devices
 * through its sysfs tree; the mounted tree is then copied file by file (symlinks kept as links, a write-only
 * attribute as an empty file of its mode) into a directory on /dev/shm. One shell in a private mount namespace
 * binds each tree over /sys in turn and times ROUNDS calls of each command on each, alternating, so both see the
 * same load; the medians are compared. `ratio` is the worse of list and types (FUSE over tmpfs).
 *
 *   npm run bench -- mdevctl-tree [DEVICES=1000] [ROUNDS=7]
 */
import { execFile } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Daemon, mid } from './daemon-harness.js';

const run = promisify(execFile);
const MDEVCTL = '/usr/bin/mdevctl';
const TARGET = 3;

/** Copies the tree at `from` into `to` as plain files, dirs and symlinks (no file is left out for its mode). */
async function copyTree(from: string, to: string): Promise<number> {
  let files = 0;
  for (const e of await readdir(from, { withFileTypes: true })) {
    const src = join(from, e.name);
    const dst = join(to, e.name);
    if (e.isSymbolicLink()) await symlink(await readlink(src), dst);
    else if (e.isDirectory()) {
      await mkdir(dst, { mode: (await lstat(src)).mode & 0o7777 });
      files += await copyTree(src, dst);
    } else {
      const mode = (await lstat(src)).mode & 0o7777;
      // A write-only attribute (create, remove) cannot be read, even by root; mdevctl only writes those.
      const data = mode & 0o444 ? await readFile(src).catch(() => Buffer.alloc(0)) : Buffer.alloc(0);
      await writeFile(dst, data, { mode });
      files++;
    }
  }
  return files;
}

/**
 * One namespace, ROUNDS × (each command on the FUSE tree, then on the copy); prints `<tree> <command> <ns>` lines.
 * The FUSE tree is bound with --rbind so its submount is what /sys shows.
 */
const SCRIPT = String.raw`
set -e
fuse=$1; copy=$2; etc=$3; rounds=$4
mount --bind "$etc" /etc/mdevctl.d
i=0
while [ $i -lt $rounds ]; do
  for tree in fuse copy; do
    if [ $tree = fuse ]; then src=$fuse; else src=$copy; fi
    mount --rbind "$src" /sys
    for cmd in list types; do
      t0=$(date +%s%N); ${MDEVCTL} $cmd > /dev/null; t1=$(date +%s%N)
      echo "$tree $cmd $((t1 - t0))"
    done
    umount -l /sys
  done
  i=$((i + 1))
done
`.replace('${MDEVCTL}', MDEVCTL);

export async function main(argv: string[]): Promise<void> {
  const devices = Number(argv[0] ?? 1000);
  const rounds = Number(argv[1] ?? 7);
  const dir = await mkdtemp(join(tmpdir(), 'umdev-bench-mdevctl-'));
  const copy = await mkdtemp('/dev/shm/umdev-bench-sys-');
  let daemon: Daemon | undefined;
  try {
    daemon = await Daemon.start(join(dir, 'state'), { parents: [{ driver: 'mtty', ports: devices }] });
    for (let i = 0; i < devices; i++) daemon.create('mtty-1');
    const sys = join(daemon.stateDir, 'sys');
    const files = await copyTree(sys, copy);
    console.log(`${devices} devices; tree copied to ${copy} (${files} files)`);
    const { stdout } = await run(
      '/usr/bin/unshare',
      ['--mount', '--propagation', 'private', 'sh', '-c', SCRIPT, 'umdev-bench', sys, copy, join(daemon.stateDir, 'mdevctl.d'), String(rounds)],
      { env: { ...process.env, MDEVCTL_LOG: 'warn' }, maxBuffer: 1 << 20 },
    );
    const times: Record<string, number[]> = {};
    for (const line of stdout.trim().split('\n')) {
      const [tree, cmd, ns] = line.split(' ');
      (times[`${tree}_${cmd}`] ??= []).push(Number(ns) / 1e6);
    }
    const ms = (k: string): number => Number(mid(times[k] ?? [NaN]).toFixed(2));
    const list = ms('fuse_list') / ms('copy_list');
    const types = ms('fuse_types') / ms('copy_types');
    for (const cmd of ['list', 'types']) console.log(`mdevctl ${cmd}: FUSE ${ms(`fuse_${cmd}`)} ms, tmpfs ${ms(`copy_${cmd}`)} ms`);
    console.log(
      JSON.stringify({
        bench: 'mdevctl-tree',
        unit: 'ms',
        devices,
        rounds,
        fuse_list: ms('fuse_list'),
        tmpfs_list: ms('copy_list'),
        fuse_types: ms('fuse_types'),
        tmpfs_types: ms('copy_types'),
        list_ratio: Number(list.toFixed(3)),
        types_ratio: Number(types.toFixed(3)),
        target: TARGET,
        ratio: Number(Math.max(list, types).toFixed(3)),
        better: 'lower',
      }),
    );
  } finally {
    await daemon?.stop();
    await rm(copy, { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
  }
}
