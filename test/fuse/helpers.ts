// Real mounts for the FUSE tests: a temp mountpoint per test, unmounted and removed by t.after even on failure, and
// filesystem access from child processes (never a synchronous call on the mount from the serving process).
import { exec, isMounted, type ExecResult } from '../process.js';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import type { AttrTree } from '../../src/fuse/attr-tree.js';
import { FuseServer } from '../../src/fuse/server.js';

/** Fails with an install hint if this machine cannot mount FUSE filesystems. */
export function requireFuse(): void {
  if (!existsSync('/dev/fuse')) throw new Error('no /dev/fuse: load the fuse kernel module (modprobe fuse) and install the Debian package fuse3');
  if (process.getuid?.() !== 0) throw new Error('the FUSE mount tests need root (mount(2) of a fuse filesystem)');
}

/** A temp dir; `t.after` hooks run in registration order, so callers register its removal after their unmount. */
export async function tempDir(prefix = 'umdev-fuse-'): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Serves `tree` at a fresh mountpoint; closed after the test. Errors are collected in `logs` (debug dropped). */
export async function serve(t: TestContext, tree: AttrTree): Promise<{ server: FuseServer; mnt: string; logs: string[] }> {
  requireFuse();
  const { dir: mnt, remove } = await tempDir();
  const logs: string[] = [];
  let server: FuseServer;
  try {
    server = await FuseServer.start({ tree, mountpoint: mnt, name: 'umdevtest', log: (level, m) => level === 'error' && logs.push(m) });
  } catch (e) {
    await remove();
    throw e;
  }
  t.after(async () => {
    await server.close();
    await remove();
  });
  return { server, mnt, logs };
}

/** Runs a shell script in a child process (`$0` is the first arg); resolves with its exit code, stdout and stderr (never rejects on exit). */
export function sh(script: string, ...args: string[]): Promise<ExecResult> {
  return exec('sh', ['-c', script, ...args], { timeoutMs: 20_000 });
}

/** Runs a small Python program (for errno-exact syscalls); prints what it prints. */
export function py(program: string, ...args: string[]): Promise<ExecResult> {
  return exec('python3', ['-c', program, ...args], { timeoutMs: 20_000 });
}

export { isMounted };

/** The package root of the built tree (this file is dist/test/fuse/helpers.js). */
const BUILT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * Copies what a child serving FUSE needs (dist/src, the addon, a package.json making it ESM) into `dir` and opens
 * `dir` to everyone: a child running as another user cannot read a checkout under a 0700 home. Returns the copied
 * `dist/` path; `extra` are further paths relative to the package root (e.g. a fixture) copied alongside.
 */
export async function readableBuild(dir: string, extra: readonly string[] = []): Promise<string> {
  await chmod(dir, 0o755);
  await cp(join(BUILT_ROOT, 'dist/src'), join(dir, 'dist/src'), { recursive: true });
  for (const rel of extra) {
    await mkdir(dirname(join(dir, rel)), { recursive: true });
    await cp(join(BUILT_ROOT, rel), join(dir, rel));
  }
  await mkdir(join(dir, 'build/Release'), { recursive: true });
  await cp(join(BUILT_ROOT, 'build/Release/umdev_native.node'), join(dir, 'build/Release/umdev_native.node'));
  await writeFile(join(dir, 'package.json'), '{ "type": "module" }\n');
  return join(dir, 'dist');
}
