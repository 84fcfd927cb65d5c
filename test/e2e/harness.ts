/**
 * End-to-end harness: mounts a core's sysfs tree over FUSE in a temporary directory of this process, then runs real
 * programs against it. `mdevctl` only knows `/sys` and `/etc/mdevctl.d`, so it runs in a private mount namespace
 * where the FUSE mount is bind-mounted over `/sys` and a temporary definitions dir over `/etc/mdevctl.d`; nothing of
 * that is visible outside the namespace, which ends with the command. Everything is undone in `t.after`.
 */
import { exec, type ExecResult } from '../process.js';
import { access, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { Core } from '../../src/core/core.js';
import type { AttrNode, AttrTree } from '../../src/fuse/attr-tree.js';
import { FuseServer } from '../../src/fuse/index.js';
import { SysfsTree, type SysfsLayout } from '../../src/sysfs/index.js';

export const MDEVCTL = '/usr/bin/mdevctl';
export const UNSHARE = '/usr/bin/unshare';

/** Fails (never skips) when a system part is missing, naming the Debian package to install. */
export async function requireTools(): Promise<void> {
  const need: [string, string][] = [
    [MDEVCTL, 'install Debian package mdevctl (apt-get install mdevctl)'],
    [UNSHARE, 'install Debian package util-linux (unshare)'],
    ['/usr/bin/mount', 'install Debian package mount'],
    ['/dev/fuse', 'install Debian package fuse3 and load the fuse module (/dev/fuse missing)'],
  ];
  for (const [path, hint] of need) {
    try {
      await access(path, constants.F_OK);
    } catch {
      throw new Error(`${path} not found: ${hint}`);
    }
  }
  if (process.getuid?.() !== 0) throw new Error('the e2e tests mount FUSE and use mount namespaces: run them as root');
}

/** A mounted tree plus a definitions dir for mdevctl. */
export interface Mounted {
  readonly core: Core;
  readonly tree: SysfsTree;
  /** The FUSE mountpoint (what becomes `/sys` for mdevctl). */
  readonly mnt: string;
  /** What becomes `/etc/mdevctl.d` (with `scripts.d/callouts` and `scripts.d/notifiers`). */
  readonly etc: string;
}

/**
 * Mounts `core`'s tree (optionally wrapped by `wrap`, e.g. to inject a race) at a new temporary directory.
 * Unmounted and removed in `t.after`, whatever the test's outcome.
 */
export async function mountSysfs(
  t: TestContext,
  core: Core,
  layout: SysfsLayout = 'mainline',
  wrap: (tree: AttrTree) => AttrTree = (x) => x,
  options: { readonly extensions?: boolean } = {},
): Promise<Mounted> {
  await requireTools();
  const base = await mkdtemp(join(tmpdir(), 'umdev-e2e-'));
  const mnt = join(base, 'sys');
  const etc = join(base, 'etc');
  await mkdir(mnt);
  await mkdir(join(etc, 'scripts.d', 'callouts'), { recursive: true });
  await mkdir(join(etc, 'scripts.d', 'notifiers'), { recursive: true });
  const tree = new SysfsTree(core, { layout, ...options });
  // Registered before mounting, so the temp dir goes even if the mount fails.
  const held: { server?: FuseServer } = {};
  t.after(async () => {
    await held.server?.close();
    await rm(base, { recursive: true, force: true });
  });
  held.server = await FuseServer.start({ tree: wrap(tree), mountpoint: mnt });
  return { core, tree, mnt, etc };
}

/** What a finished command printed and how it ended. */
export type RunResult = ExecResult;

/** Runs `file args…` asynchronously (the FUSE server answers on this process's loop, so never block it). */
export function run(file: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env, timeoutMs?: number): Promise<RunResult> {
  return exec(file, args, { env, timeoutMs });
}

/** The namespace script: bind the tree over /sys and the definitions over /etc/mdevctl.d, then exec the command. */
const NS_SCRIPT = 'mount --rbind "$1" /sys && mount --bind "$2" /etc/mdevctl.d && shift 2 && exec "$@"';

/** Runs a command in a private mount namespace whose `/sys` is the tree and `/etc/mdevctl.d` the test's dir. */
export function inNamespace(m: Mounted, argv: readonly string[]): Promise<RunResult> {
  return run(UNSHARE, ['--mount', '--propagation', 'private', 'sh', '-c', NS_SCRIPT, 'umdev-ns', m.mnt, m.etc, ...argv], {
    ...process.env,
    MDEVCTL_LOG: 'warn',
  });
}

/** Runs the real mdevctl against the tree. */
export function mdevctl(m: Mounted, ...args: string[]): Promise<RunResult> {
  return inNamespace(m, [MDEVCTL, ...args]);
}

/** Runs a shell script with `$MNT` set to the mountpoint (outside any namespace: the mount is ours). */
export function shell(m: Mounted, script: string, env: Record<string, string> = {}): Promise<RunResult> {
  return run('/bin/sh', ['-c', script], { ...process.env, ...env, MNT: m.mnt });
}

/** A golden output from `test/e2e/data/`, with `{NAME}` placeholders filled in. */
export async function golden(name: string, vars: Record<string, string> = {}): Promise<string> {
  const dir = new URL('../../../test/e2e/data/', import.meta.url);
  let text = await readFile(new URL(name, dir), 'utf8');
  for (const [k, v] of Object.entries(vars)) text = text.split(`{${k}}`).join(v);
  return text;
}

/** True while `/sys` of this process is still the kernel's sysfs (no bind mount leaked out of a namespace). */
export async function hostSysIsSysfs(): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const sys = info
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[4] === '/sys');
  const last = sys[sys.length - 1];
  return last !== undefined && last[last.indexOf('-') + 1] === 'sysfs';
}

/**
 * Wraps a tree so that the first read of a file whose path ends with `suffix` runs `hook` right after the value is
 * taken: the way to put another user's action between mdevctl's check of `available_instances` and its write to
 * `create`.
 */
export function onFirstRead(suffix: string, hook: () => void): (tree: AttrTree) => AttrTree {
  let fired = false;
  return (tree) => ({
    resolve(path: readonly string[]): AttrNode | undefined {
      const node = tree.resolve(path);
      if (fired || node?.kind !== 'file' || !node.show || path.join('/').slice(-suffix.length) !== suffix) return node;
      const show = node.show.bind(node);
      return {
        ...node,
        show: () => {
          // The value mdevctl sees is taken first; the other user's action lands before mdevctl's next request.
          const value = show();
          if (!fired) {
            fired = true;
            hook();
          }
          return value;
        },
      };
    },
    onChange: tree.onChange?.bind(tree),
  });
}
