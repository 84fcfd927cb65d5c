// Mounting through fusermount3: as root with the method forced, and genuinely as another user (nobody, 65534) from
// a child process whose files are copied where that user can read them. Every access to a non-root mount comes
// from a process of the same user: without allow_other nobody else may enter it.
import { exec, type ExecResult } from '../process.js';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UmdevError } from '../../src/errors.js';
import { FuseServer } from '../../src/fuse/server.js';
import { ToyTree } from './toy-tree.js';
import { waitFor } from '../process.js';
import { isMounted, py, readableBuild, requireFuse, sh, tempDir } from './helpers.js';

const NOBODY = 65534;

function requireFusermount(): void {
  requireFuse();
  if (!['/usr/bin/fusermount3', '/bin/fusermount3'].some((p) => existsSync(p))) throw new Error('no fusermount3: install Debian package fuse3');
}

/** Runs a shell script as `uid` (gid the same); `$0` is the first arg. Never rejects on exit. */
function shAs(uid: number, script: string, ...args: string[]): Promise<ExecResult> {
  return exec('sh', ['-c', script, ...args], { uid, gid: uid, cwd: '/', timeoutMs: 20_000 });
}


/** Whether /etc/fuse.conf lets users mount with allow_other (then root may enter a user's mount too). */
async function userAllowOther(): Promise<boolean> {
  return (await readFile('/etc/fuse.conf', 'utf8').catch(() => '')).split('\n').includes('user_allow_other');
}

/**
 * A scratch dir readable by nobody: the built server (dist/src, the fixture, the toy tree, the addon) copied into
 * it, and a mountpoint owned by nobody. Everything it started is killed and unmounted after the test, even on failure.
 */
async function nobodyScratch(t: TestContext): Promise<{ mnt: string; fixture: string; kids: ChildProcess[] }> {
  requireFusermount();
  const { dir, remove } = await tempDir('umdev-fusermount-');
  const kids: ChildProcess[] = [];
  const mnt = join(dir, 'mnt');
  t.after(async () => {
    for (const k of kids) if (k.exitCode === null && k.signalCode === null) k.kill('SIGKILL');
    await waitFor('the children to exit', () => kids.every((k) => k.exitCode !== null || k.signalCode !== null)).catch(() => undefined);
    if (await isMounted(mnt)) await sh('umount -i -c -l "$0"', mnt);
    await remove();
  });
  const dist = await readableBuild(dir, ['dist/test/fuse/toy-tree.js', 'dist/test/fuse/fixtures/fuse-server.js']);
  const fixture = join(dist, 'test/fuse/fixtures/fuse-server.js');
  await mkdir(mnt);
  await chown(mnt, NOBODY, NOBODY);
  // Honest failure rather than a confusing one: the copy is useless if nobody cannot reach it or run node.
  const probe = await shAs(NOBODY, 'test -r "$0" && test -r "$1" && "$2" -e 0', fixture, join(dir, 'build/Release/umdev_native.node'), process.execPath);
  if (probe.code !== 0) throw new Error(`uid ${NOBODY} cannot read ${dir} or run ${process.execPath}: every parent directory must be traversable by others (${probe.stderr.trim()})`);
  return { mnt, fixture, kids };
}

/** Starts the fixture server as nobody; resolves with the process once it printed its first line. */
function startAsNobody(kids: ChildProcess[], fixture: string, mnt: string): Promise<{ child: ChildProcess; line: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fixture, mnt], { uid: NOBODY, gid: NOBODY, cwd: '/', stdio: ['ignore', 'pipe', 'inherit'] });
    kids.push(child);
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      if (out.includes('\n')) resolve({ child, line: out.split('\n')[0]! });
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => !out.includes('\n') && reject(new Error(`the server exited with ${code ?? signal} before answering`)));
  });
}

/** The mountinfo line of `mnt`, as seen by this process. */
async function mountLine(mnt: string): Promise<string | undefined> {
  return (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').find((l) => l.split(' ')[4] === mnt);
}

test('root with mountMethod fusermount3: reads, writes and lists from another process; close() unmounts', async (t) => {
  requireFusermount();
  const { dir: mnt, remove } = await tempDir();
  t.after(remove);
  let value = 'one\n';
  const tree = new ToyTree().file('value', 0o644, () => value, (b) => void (value = b.toString())).dir('sub').file('sub/ro', 0o444, () => 'ro\n');
  const server = await FuseServer.start({ tree, mountpoint: mnt, name: 'umdevfm', mountMethod: 'fusermount3' });
  let closed = false;
  t.after(async () => {
    if (!closed) await server.close();
  });
  const line = await mountLine(mnt);
  assert.ok(line, 'mounted');
  assert.match(line, / - fuse\.umdevfm umdevfm /);
  assert.match(line, /user_id=0,group_id=0/);
  assert.equal((await sh('cat "$0/value"', mnt)).stdout, 'one\n');
  assert.equal((await sh('echo two > "$0/value" && cat "$0/value"', mnt)).stdout, 'two\n');
  assert.equal(value, 'two\n');
  assert.equal((await sh('ls "$0"; ls "$0/sub"', mnt)).stdout, 'sub\nvalue\nro\n');
  assert.equal((await sh('stat -c %u:%g "$0/value"', mnt)).stdout, '0:0\n', 'a root server keeps sysfs ownership');
  const ro = await sh('echo x > "$0/sub/ro"', mnt);
  assert.notEqual(ro.code, 0, 'a 0444 attribute refuses writes even to root');
  closed = true;
  await server.close();
  assert.equal(await isMounted(mnt), false);
  await server.ended;
});

test('a missing fusermount3 is ENOSYS naming the Debian package, and leaves nothing mounted', async (t) => {
  requireFusermount();
  const { dir: mnt, remove } = await tempDir();
  t.after(remove);
  const path = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    await assert.rejects(
      FuseServer.start({ tree: new ToyTree(), mountpoint: mnt, mountMethod: 'fusermount3' }),
      (e: unknown) => e instanceof UmdevError && e.errno === 'ENOSYS' && /install Debian package fuse3/.test(e.message),
    );
  } finally {
    process.env.PATH = path;
  }
  assert.equal(await isMounted(mnt), false);
});

test('as nobody: mounts through fusermount3, serves its own user as owner, SIGTERM unmounts', async (t) => {
  const { mnt, fixture, kids } = await nobodyScratch(t);
  const { child, line } = await startAsNobody(kids, fixture, mnt);
  assert.equal(line, 'ready');
  const info = await mountLine(mnt);
  assert.ok(info, 'mounted');
  assert.match(info, / - fuse\.umdevfixture umdevfixture /);
  assert.match(info, /user_id=65534,group_id=65534/);
  assert.equal((await shAs(NOBODY, 'cat "$0/greeting"', mnt)).stdout, 'hello from the server\n');
  assert.equal((await shAs(NOBODY, 'cat "$0/value"', mnt)).stdout, 'initial\n');
  const write = await shAs(NOBODY, 'echo changed > "$0/value" && cat "$0/value"', mnt);
  assert.equal(write.code, 0, write.stderr);
  assert.equal(write.stdout, 'changed\n');
  assert.equal((await shAs(NOBODY, 'stat -c "%u:%g %a" "$0/value" "$0/sub"', mnt)).stdout, '65534:65534 644\n65534:65534 755\n');
  assert.equal((await shAs(NOBODY, 'ls "$0"; cat "$0/sub/secret"', mnt)).stdout, 'greeting\nsub\nvalue\nowner only\n');
  const ro = await shAs(NOBODY, 'echo x > "$0/greeting"', mnt);
  assert.notEqual(ro.code, 0, 'a 0444 attribute refuses writes');
  assert.match(ro.stderr, /Permission denied/);
  if (!(await userAllowOther())) {
    // Without allow_other the kernel turns away every other user, root included (from a child: never this process).
    const probe = await py('import os, sys\ntry:\n    os.stat(sys.argv[1] + "/greeting")\n    print("ok")\nexcept OSError as e:\n    print(e.strerror)', mnt);
    assert.equal(probe.stdout.trim(), 'Permission denied');
  }
  child.kill('SIGTERM');
  await waitFor('the server to exit', () => child.exitCode !== null || child.signalCode !== null);
  assert.equal(child.exitCode, 0);
  assert.equal(await isMounted(mnt), false);
});

test('as nobody: a SIGKILLed server is detached by its watchdog; a stale mount is cleared at start', async (t) => {
  const { mnt, fixture, kids } = await nobodyScratch(t);
  const first = await startAsNobody(kids, fixture, mnt);
  assert.equal(first.line, 'ready');
  first.child.kill('SIGKILL');
  await waitFor('the watchdog to detach the mount', async () => !(await isMounted(mnt)));
  // A session whose holder exits right after fusermount3 mounted it: nothing detaches it (ENOTCONN).
  const program = `
import os, socket, subprocess, sys
mine, theirs = socket.socketpair()
subprocess.run(['fusermount3', '-o', 'fsname=umdevstale,subtype=umdevstale', '--', sys.argv[1]], pass_fds=[theirs.fileno()], env={**os.environ, '_FUSE_COMMFD': str(theirs.fileno())}, check=True)
_, fds, _, _ = socket.recv_fds(mine, 1, 1)
print(len(fds))
`;
  const stale = await exec('python3', ['-c', program, mnt], { uid: NOBODY, gid: NOBODY, cwd: '/', timeoutMs: 20_000 });
  assert.equal(stale.code, 0, stale.stderr);
  assert.equal(stale.stdout.trim(), '1');
  const probe = await shAs(NOBODY, 'stat "$0" 2>&1', mnt);
  assert.match(probe.stdout, /not connected/);
  const second = await startAsNobody(kids, fixture, mnt);
  assert.equal(second.line, 'ready');
  assert.equal((await shAs(NOBODY, 'cat "$0/greeting"', mnt)).stdout, 'hello from the server\n');
  second.child.kill('SIGTERM');
  await waitFor('the server to exit', () => second.child.exitCode !== null || second.child.signalCode !== null);
  assert.equal(await isMounted(mnt), false);
});
