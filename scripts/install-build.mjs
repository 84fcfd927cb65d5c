// What npm runs when it installs the checkout (`npm ci`, `npm install -g .`): `install-build.mjs native` (the
// `install` script, which would otherwise be npm's default `node-gyp rebuild`) and `install-build.mjs ts` (`prepare`).
// Each builds only what is stale: a checkout that is already built is not built again, so installing it globally
// never deletes the addon or rewrites dist/ under a running umdevd (whose new device hosts load them) or a test run.
// A stale TypeScript build is made in a fresh directory and swapped in by rename, so no reader sees half of one.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { URL, fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const say = (line) => process.stderr.write(`umdev: ${line}\n`);

/** The newest modification time under `paths` (files or directories, recursively); 0 when none exists. */
function newest(paths) {
  let t = 0;
  for (const p of paths) {
    const full = join(ROOT, p);
    if (!existsSync(full)) continue;
    const st = statSync(full);
    if (st.isDirectory()) {
      for (const e of readdirSync(full)) t = Math.max(t, newest([join(p, e)]));
    } else t = Math.max(t, st.mtimeMs);
  }
  return t;
}

function mtime(p) {
  return existsSync(join(ROOT, p)) ? statSync(join(ROOT, p)).mtimeMs : -1;
}

function run(cmd, args, env = {}) {
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

function native() {
  const addon = 'build/Release/umdev_native.node';
  if (mtime(addon) >= newest(['native', 'binding.gyp'])) {
    say(`${addon} is current: not rebuilt`);
    return;
  }
  // npm hands its bundled node-gyp to lifecycle scripts in npm_config_node_gyp.
  const gyp = process.env.npm_config_node_gyp;
  if (gyp) run(process.execPath, [gyp, 'rebuild']);
  else run('node-gyp', ['rebuild']);
}

function typescript() {
  const sources = ['src', 'test', 'bench', 'vm', 'fuzz', 'scripts', 'tsconfig.json', 'package.json'];
  if (mtime('dist/.build-stamp') >= newest(sources)) {
    say('dist/ is current: not rebuilt');
    return;
  }
  const next = `dist.next-${process.pid}`;
  const old = `dist.old-${process.pid}`;
  rmSync(join(ROOT, next), { recursive: true, force: true });
  say(`building into ${next}/, then swapping it in for dist/`);
  // What `npm run build` does, into the fresh directory: the TypeScript, the dashboard page's scripts, postbuild.
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
  run(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.json'), '--outDir', join(ROOT, next)]);
  run(process.execPath, [tsc, '-p', join(ROOT, 'src/dashboard/ui/tsconfig.json'), '--outDir', join(ROOT, next, 'ui')]);
  run(process.execPath, [join(ROOT, 'scripts/postbuild.mjs')], { UMDEV_DIST_DIR: next });
  const had = existsSync(join(ROOT, 'dist'));
  if (had) renameSync(join(ROOT, 'dist'), join(ROOT, old));
  renameSync(join(ROOT, next), join(ROOT, 'dist'));
  if (had) rmSync(join(ROOT, old), { recursive: true, force: true });
}

const what = process.argv[2];
if (what === 'native') native();
else if (what === 'ts') typescript();
else {
  say('usage: node scripts/install-build.mjs native|ts');
  process.exit(2);
}
