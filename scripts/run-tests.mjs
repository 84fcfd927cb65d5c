// Runs one test tier with node's runner, giving it only `*.test.js` files: node's default patterns take every .js
// under a `test` dir, so helper modules would be "run" and counted as passing tests.
//   node scripts/run-tests.mjs unit   the pure and in-memory suites: any user, no FUSE, no mdevctl
//   node scripts/run-tests.mjs all    every suite in dist/test (root: FUSE mounts, mdevctl in mount namespaces)
//   node scripts/run-tests.mjs vm     the QEMU tier in dist/vm (root)
// `--build` first builds (tsc, then scripts/postbuild.mjs) when this checkout is writable (a read-only copy runs what
// it holds).
// Other arguments are passed to `node --test` (e.g. --test-name-pattern=…).
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import process from 'node:process';
import { URL, fileURLToPath } from 'node:url';

const say = (line) => process.stderr.write(`${line}\n`);
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Suites that need no root, no mount and no Debian package beyond node: every file not listed in ROOT_ONLY. */
const UNIT_DIRS = ['dist/test/core', 'dist/test/sysfs', 'dist/test/vfio', 'dist/test/vfio-user', 'dist/test/drivers', 'dist/test/display', 'dist/test/native', 'dist/test/fuse', 'dist/test/daemon', 'dist/test/cli', 'dist/test/k8s', 'dist/test/metrics', 'dist/test/dashboard'];
/**
 * Files under UNIT_DIRS that mount FUSE, run mdevctl or change users, so they need root; the daemon suites change
 * devices through the API, which only root (or its group) may do.
 */
const ROOT_ONLY = new Set([
  'dist/test/daemon/api.test.js',
  'dist/test/daemon/api-access.test.js',
  'dist/test/daemon/api-limits.test.js',
  'dist/test/daemon/daemon.test.js',
  'dist/test/daemon/events.test.js',
  'dist/test/native/sock.test.js',
  'dist/test/fuse/fusermount.test.js',
  'dist/test/fuse/lifecycle.test.js',
  'dist/test/fuse/mount.test.js',
  'dist/test/cli/atomic.test.js',
  'dist/test/cli/compat.test.js',
  'dist/test/cli/online-group.test.js',
  'dist/test/cli/usage.test.js',
]);

const TIERS = {
  unit: { dirs: UNIT_DIRS, root: false, keep: (f) => !ROOT_ONLY.has(f) },
  all: { dirs: ['dist/test'], root: true, keep: () => true },
  vm: { dirs: ['dist/vm'], root: true, keep: () => true },
};

function testFiles(dir) {
  const out = [];
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) out.push(...testFiles(rel));
    else if (e.name.endsWith('.test.js')) out.push(rel);
  }
  return out;
}

const [tierName, ...rest] = process.argv.slice(2);
const build = rest.includes('--build');
const extra = rest.filter((a) => a !== '--build');
const tier = TIERS[tierName ?? ''];
if (tier === undefined) {
  say(`usage: node scripts/run-tests.mjs ${Object.keys(TIERS).join('|')} [node --test options]`);
  process.exit(2);
}
if (tier.root && process.getuid?.() !== 0) {
  say(
    `run-tests: the "${tierName}" tier needs root (it mounts FUSE, runs mdevctl in private mount namespaces and starts ` +
      `processes as other users); you are uid ${process.getuid?.()}. Run it as root, or run \`npm run test:unit\`, ` +
      'which needs no root.',
  );
  process.exit(1);
}
if (build) {
  let writable = true;
  try {
    accessSync(existsSync(join(ROOT, 'dist')) ? join(ROOT, 'dist') : ROOT, constants.W_OK);
  } catch {
    writable = false;
  }
  if (writable) {
    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.json')], { stdio: 'inherit' });
    if (tsc.status !== 0) process.exit(1);
    // What tsc does not make: the CLI bundle the bin scripts run (bin/umdevctl), the .proto files umdev-k8s loads.
    const post = spawnSync(process.execPath, [join(ROOT, 'scripts/postbuild.mjs')], { stdio: 'inherit' });
    if (post.status !== 0) process.exit(1);
  } else {
    say(`run-tests: ${ROOT} is not writable by uid ${process.getuid?.()}: running the build it holds`);
  }
}
for (const d of tier.dirs) {
  if (!existsSync(join(ROOT, d))) {
    say(`run-tests: ${d} is missing: build first (npm run build, or ./setup)`);
    process.exit(1);
  }
}
const files = tier.dirs.flatMap(testFiles).filter(tier.keep).sort();
say(`run-tests: ${tierName}: ${files.length} test files (${relative(process.cwd(), ROOT) || '.'})`);
const child = spawn(process.execPath, ['--test', '--test-concurrency=1', ...extra, ...files], { cwd: ROOT, stdio: 'inherit' });
// Forward the signals a terminal or CI sends, so the runner never outlives us.
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
