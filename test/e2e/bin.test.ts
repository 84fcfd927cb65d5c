/**
 * The commands as the README runs them from a checkout: `bin/umdevd` is the daemon itself (the shell execs node, so
 * the pid a person sees and kills is the daemon's, and no wrapper is left holding the mount), and `bin/umdevctl`
 * and `bin/lsmdev` reach the CLI.
 */
import assert from 'node:assert/strict';
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { exec } from '../process.js';
import { BIN, isMounted, run, start, stateDir } from './umdevd-process.js';

test('bin/umdevd: the started pid is the daemon; SIGTERM to it unmounts, removes api.json and ends the process', async (t) => {
  const ctx = await stateDir(t, 'umdevd-bin-');
  const d = await start(ctx, [], { viaBin: true });
  const cmdline = (await readFile(`/proc/${d.pid}/cmdline`, 'utf8')).split('\0');
  assert.equal(path.basename(cmdline[0]!), path.basename(process.execPath), `pid ${d.pid} is node itself, not a wrapper: ${cmdline.join(' ')}`);
  assert.ok(cmdline.some((a) => a.endsWith('dist/src/daemon/main.js')), cmdline.join(' '));
  const info = JSON.parse(await readFile(path.join(ctx.dir, 'api.json'), 'utf8')) as { pid: number };
  assert.equal(info.pid, d.pid, 'api.json names the pid that was started');
  assert.ok(await isMounted(path.join(ctx.dir, 'sys')));
  process.kill(d.pid, 'SIGTERM');
  assert.deepEqual(await d.exited, { code: 0, signal: null });
  assert.equal(await isMounted(path.join(ctx.dir, 'sys')), false, 'no process is left holding the mount');
});

test('bin/umdevctl and bin/lsmdev run the CLI from any working directory', async () => {
  const v = await run(path.join(BIN, 'umdevctl'), ['--version']);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /^umdevctl \d+\.\d+\.\d+\n$/);
  const h = await run(path.join(BIN, 'lsmdev'), ['--help']);
  assert.equal(h.code, 0, h.stderr);
  assert.match(h.stdout, /^lsmdev \d+\.\d+\.\d+\nList mediated devices\n/);
});

test('a build this user cannot read is reported as such, not as missing; a missing one says to run ./setup', async (t) => {
  const base = await mkdtemp(path.join(tmpdir(), 'umdev-binperm-'));
  t.after(() => rm(base, { recursive: true, force: true }));
  await chmod(base, 0o755);
  for (const [name, dist] of [['unreadable', true], ['unbuilt', false]] as const) {
    await cp(BIN, path.join(base, name, 'bin'), { recursive: true });
    await chmod(path.join(base, name), 0o755);
    // A checkout's build that only its owner may enter, as in a 0700 home.
    if (dist) await mkdir(path.join(base, name, 'dist'), { mode: 0o700 });
  }
  const asNobody = (file: string): ReturnType<typeof run> => run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', file, '--version']);
  for (const prog of ['umdevctl', 'umdevd', 'umdev-uart']) {
    const denied = await asNobody(path.join(base, 'unreadable', 'bin', prog));
    assert.equal(denied.code, 1, denied.stderr);
    assert.match(denied.stderr, new RegExp(`^${prog}: cannot read .*: permission denied on ${base}/unreadable/dist.* for uid 65534`));
    assert.doesNotMatch(denied.stderr, /run \.\/setup/);
    const missing = await asNobody(path.join(base, 'unbuilt', 'bin', prog));
    assert.equal(missing.code, 1, missing.stderr);
    assert.match(missing.stderr, new RegExp(`^${prog}: .* is missing: run \\./setup`));
  }
});

test('npm install -g of a built checkout builds nothing: the addon and dist/ stay as they are', { timeout: 180_000 }, async (t) => {
  const root = path.resolve(BIN, '..');
  const stamp = path.join(root, 'dist/.build-stamp');
  const addon = path.join(root, 'build/Release/umdev_native.node');
  const current = await run(process.execPath, ['-e', `
    const fs = require('node:fs'), p = require('node:path');
    const newest = (f) => { const s = fs.statSync(f); return s.isDirectory() ? Math.max(0, ...fs.readdirSync(f).map((e) => newest(p.join(f, e)))) : s.mtimeMs; };
    process.exit(fs.statSync(${JSON.stringify(stamp)}).mtimeMs >= Math.max(...['src', 'test', 'scripts', 'tsconfig.json'].map((x) => newest(p.join(${JSON.stringify(root)}, x)))) ? 0 : 1);`]);
  assert.equal(current.code, 0, 'dist/ is older than the sources: run npm run build first (this test installs the build as it is)');
  const before = [(await stat(stamp)).mtimeMs, (await stat(addon)).mtimeMs];
  const prefix = await mkdtemp(path.join(tmpdir(), 'umdev-prefix-'));
  t.after(() => rm(prefix, { recursive: true, force: true }));
  const r = await exec('npm', ['install', '-g', root, '--prefix', prefix, '--no-audit', '--no-fund', '--foreground-scripts'], { timeoutMs: 150_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout + r.stderr, /build\/Release\/umdev_native\.node is current: not rebuilt/);
  assert.match(r.stdout + r.stderr, /dist\/ is current: not rebuilt/);
  assert.deepEqual([(await stat(stamp)).mtimeMs, (await stat(addon)).mtimeMs], before, 'nothing was rebuilt in place');
  const v = await run(path.join(prefix, 'bin', 'umdevctl'), ['--version']);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /^umdevctl \d/);
  assert.ok((await readdir(path.join(prefix, 'bin'))).includes('umdev-fb'), 'every command is installed');
});
