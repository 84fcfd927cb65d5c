// Mount lifecycle with real processes: close() unmounts, a SIGKILLed server leaves no stale mount, a stale mount
// left by something else is cleared at start, process.exit() detaches, and the plain errors for a missing device or
// a non-root caller.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UmdevError } from '../../src/errors.js';
import { FuseServer } from '../../src/fuse/server.js';
import { ToyTree } from './toy-tree.js';
import { waitFor } from '../process.js';
import { isMounted, py, readableBuild, requireFuse, sh, tempDir } from './helpers.js';

/**
 * A child Node process serving a one-file tree at argv[2] with mount method argv[4] (default auto); prints `ready`,
 * then exits if argv[3] is `exit`.
 */
const CHILD = `
import { FuseServer } from './dist/src/fuse/server.js';
const tree = {
  resolve: (p) => p.length === 0 ? { kind: 'dir', mode: 0o755, entries: () => [{ name: 'hello', kind: 'file' }] }
    : p.length === 1 && p[0] === 'hello' ? { kind: 'file', mode: 0o444, show: () => 'hi\\n' } : undefined,
};
try {
  await FuseServer.start({ tree, mountpoint: process.argv[2], name: 'umdevchild', mountMethod: process.argv[4] ?? 'auto' });
  console.log('ready');
  if (process.argv[3] === 'exit') process.exit(0);
  setInterval(() => {}, 1000);
} catch (e) {
  console.log(JSON.stringify({ errno: e.errno, message: e.message }));
}
`;

/**
 * A scratch dir with the child script, a copy of the built server it imports (so a child running as another user
 * can read it whatever the checkout's mode) and a mountpoint; all removed after the test, after `cleanup`.
 */
async function scratch(t: import('node:test').TestContext): Promise<{ dir: string; script: string; mnt: string; kids: ChildProcess[] }> {
  requireFuse();
  const { dir, remove } = await tempDir('umdev-fuse-life-');
  const kids: ChildProcess[] = [];
  const mnt = join(dir, 'mnt');
  await sh('mkdir "$0"', mnt);
  await readableBuild(dir);
  const script = join(dir, 'child.mjs');
  await writeFile(script, CHILD);
  t.after(async () => {
    for (const k of kids) if (k.exitCode === null && k.signalCode === null) k.kill('SIGKILL');
    if (await isMounted(mnt)) await sh('umount -i -c -l "$0"', mnt);
    await remove();
  });
  return { dir, script, mnt, kids };
}

/** Starts the child server; resolves with the process and its first stdout line. */
function startChild(kids: ChildProcess[], script: string, args: string[], opts: { uid?: number; gid?: number } = {}): Promise<{ child: ChildProcess; line: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'inherit'], ...opts });
    kids.push(child);
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      if (out.includes('\n')) resolve({ child, line: out.split('\n')[0]! });
    });
    child.on('error', reject);
    child.on('exit', (code) => !out.includes('\n') && reject(new Error(`child exited with ${code} before answering`)));
  });
}


test('close() unmounts (gone from mountinfo), ends the session, and is idempotent', async (t) => {
  requireFuse();
  const { dir: mnt, remove } = await tempDir();
  t.after(remove);
  const server = await FuseServer.start({ tree: new ToyTree().file('a', 0o444, () => 'a\n'), mountpoint: mnt });
  let closing: Promise<void> | undefined;
  try {
    assert.ok(await isMounted(mnt));
    assert.equal((await sh('cat "$0/a"', mnt)).stdout, 'a\n');
  } finally {
    closing = server.close();
    assert.equal(server.close(), closing, 'the same promise to every caller');
    await closing;
  }
  assert.equal(await isMounted(mnt), false);
  await server.ended;
});

test('a SIGKILLed server leaves no stale mount, and a new server starts at the same mountpoint', async (t) => {
  const { script, mnt, kids } = await scratch(t);
  const { child, line } = await startChild(kids, script, [mnt]);
  assert.equal(line, 'ready');
  assert.equal((await sh('cat "$0/hello"', mnt)).stdout, 'hi\n');
  child.kill('SIGKILL');
  await waitFor('the watchdog to detach the mount', async () => !(await isMounted(mnt)));
  const server = await FuseServer.start({ tree: new ToyTree().file('again', 0o444, () => 'again\n'), mountpoint: mnt });
  try {
    assert.equal((await sh('cat "$0/again"', mnt)).stdout, 'again\n');
  } finally {
    await server.close();
  }
});

test('a stale mount (server gone, ENOTCONN) is detached at start', async (t) => {
  const { mnt } = await scratch(t);
  // A session whose server exits right after mounting, with nothing to clean up after it.
  const stale = await py(
    `
import os, subprocess, sys
fd = os.open('/dev/fuse', os.O_RDWR)
subprocess.run(['mount', '-i', '-n', '-t', 'fuse.umdevstale', '-o', 'fd=%d,rootmode=40000,user_id=0,group_id=0' % fd, 'umdevstale', sys.argv[1]], pass_fds=[fd], check=True)
`,
    mnt,
  );
  assert.equal(stale.code, 0, stale.stderr);
  const probe = await py(`import os, sys, errno\ntry:\n    os.stat(sys.argv[1])\n    print('ok')\nexcept OSError as e:\n    print(errno.errorcode[e.errno])`, mnt);
  assert.equal(probe.stdout.trim(), 'ENOTCONN');
  const server = await FuseServer.start({ tree: new ToyTree().file('fresh', 0o444, () => 'fresh\n'), mountpoint: mnt });
  try {
    assert.equal((await sh('cat "$0/fresh"', mnt)).stdout, 'fresh\n');
  } finally {
    await server.close();
  }
});

test('process.exit() without close() exits promptly and detaches the mount', async (t) => {
  const { script, mnt, kids } = await scratch(t);
  const { child, line } = await startChild(kids, script, [mnt, 'exit']);
  assert.equal(line, 'ready');
  await waitFor('the child to exit', async () => child.exitCode !== null, 10_000);
  assert.equal(child.exitCode, 0);
  assert.equal(await isMounted(mnt), false);
});

test('plain errors: no FUSE device is ENODEV, a missing mountpoint ENOENT, mount(8) as non-root EPERM', async (t) => {
  const { dir, script, mnt, kids } = await scratch(t);
  await assert.rejects(
    FuseServer.start({ tree: new ToyTree(), mountpoint: mnt, device: join(dir, 'no-such-device') }),
    (e: unknown) => e instanceof UmdevError && e.errno === 'ENODEV' && e.message.includes('modprobe fuse'),
  );
  await assert.rejects(
    FuseServer.start({ tree: new ToyTree(), mountpoint: join(dir, 'no-such-dir') }),
    (e: unknown) => e instanceof UmdevError && e.errno === 'ENOENT' && e.message.includes('no-such-dir'),
  );
  await chmod(dir, 0o755);
  await chmod(mnt, 0o777);
  const { line } = await startChild(kids, script, [mnt, 'serve', 'mount'], { uid: 65534, gid: 65534 });
  const failure = JSON.parse(line) as { errno: string; message: string };
  assert.equal(failure.errno, 'EPERM', failure.message);
  assert.match(failure.message, /superuser|only root/);
  assert.equal(await isMounted(mnt), false);
});

test('an unmount by someone else ends the session; close() still resolves', async (t) => {
  requireFuse();
  const { dir: mnt, remove } = await tempDir();
  t.after(remove);
  const server = await FuseServer.start({ tree: new ToyTree(), mountpoint: mnt });
  try {
    assert.equal((await sh('umount "$0"', mnt)).code, 0);
    await server.ended;
    assert.equal(await isMounted(mnt), false);
  } finally {
    await server.close();
  }
});
