/**
 * End-to-end: umdev's mainline tree for the mtty sample against a real 6.12 kernel's, entry for entry. The same
 * sequence as the reference dump (load, create one mtty-2, bad writes, exhaust the pool, remove) runs through the real
 * FUSE mount with the same tools (busybox: find, stat, readlink, cat, ls -la, shell writes), and the output is
 * compared line by line with `data/kernel-sysfs-mtty-6.12.txt`. Without extensions nothing may differ; with them, only
 * umdev's own device files (`online`, `reset`) may be added.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Core } from '../../src/core/core.js';
import { createMttyParent } from '../../src/drivers/mtty/index.js';
import { VfioUserBusDriver } from '../../src/vfio-user/index.js';
import { golden, mountSysfs, run } from './harness.js';

const BUSYBOX = '/usr/bin/busybox';
const DATA = new URL('../../../test/e2e/data/', import.meta.url);
const SCRIPT = fileURLToPath(new URL('kernel-dump.sh', DATA));

/** The reference without its header (what kernel, when, how): from the first line the script also prints. */
async function reference(): Promise<string[]> {
  const lines = (await golden('kernel-sysfs-mtty-6.12.txt')).trimEnd().split('\n');
  return lines.slice(lines.findIndex((l) => l.startsWith('# parent realpath=')));
}

/** Mounts a fresh core with the mtty parent and the vfio-user bus driver (as umdevd runs them), then runs the script. */
async function render(t: TestContext, extensions: boolean): Promise<string[]> {
  try {
    await access(BUSYBOX, constants.X_OK);
  } catch {
    throw new Error(`${BUSYBOX} not found: install Debian package busybox (./setup does)`);
  }
  const core = new Core();
  const runDir = await mkdtemp(join(tmpdir(), 'umdev-dump-run-'));
  const driver = new VfioUserBusDriver({ core, runDir });
  t.after(async () => {
    await core.unregisterDriver(driver.name).catch(() => undefined);
    await driver.close();
    await rm(runDir, { recursive: true, force: true });
  });
  await core.registerDriver(driver);
  core.registerParent(createMttyParent());
  const m = await mountSysfs(t, core, 'mainline', (x) => x, { extensions });
  // A few thousand file operations through FUSE: generous, so a loaded machine does not time the script out.
  const r = await run(BUSYBOX, ['sh', SCRIPT], { ...process.env, SYS: m.mnt, LC_ALL: 'C' }, 180_000);
  assert.equal(r.code, 0, r.stderr);
  // The reference names the script SCRIPT and the mount $SYS in the shell's messages. Debian 12's busybox also puts
  // the script's line number in them (`SCRIPT: line 52: can't create …`), which the reference's busybox did not.
  const text = r.stdout.split(SCRIPT).join('SCRIPT').split(m.mnt).join('$SYS');
  return text.replace(/msg='SCRIPT: line \d+: /g, "msg='SCRIPT: ").trimEnd().split('\n');
}

/**
 * The link count of `/sys/kernel` (the `..` of `kernel/iommu_groups`): 15 on the kernel, which has 15 subdirectories
 * there, and 3 in umdev, which serves only `iommu_groups`. The one count that is not umdev's to match.
 */
function exemptKernelLinks(lines: readonly string[]): string[] {
  let inGroups = false;
  return lines.map((l) => {
    if (l.startsWith('@@@ BEGIN IOMMU_GROUPS')) inGroups = true;
    if (l.startsWith('@@@ END IOMMU_GROUPS')) inGroups = false;
    if (!(inGroups || l.startsWith('# iommu_groups: ')) || !l.endsWith(' ..')) return l;
    return l.replace(/drwxr-xr-x +\d+ /, 'drwxr-xr-x K ');
  });
}

/** A readable unified-ish diff: each line only one side has, with its line number. */
function diff(actual: readonly string[], expected: readonly string[]): string[] {
  const out: string[] = [];
  const n = Math.max(actual.length, expected.length);
  for (let i = 0; i < n; i++) {
    if (actual[i] !== expected[i]) out.push(`line ${i + 1}:\n  kernel: ${expected[i] ?? '(none)'}\n  umdev:  ${actual[i] ?? '(none)'}`);
    if (out.length >= 10) break;
  }
  return out;
}

test('mainline without extensions reproduces the 6.12 kernel dump line for line', async (t) => {
  const [actual, expected] = [exemptKernelLinks(await render(t, false)), exemptKernelLinks(await reference())];
  assert.ok(expected.length > 200, 'the reference is complete');
  assert.deepEqual(diff(actual, expected), []);
  assert.equal(actual.length, expected.length);
});

test('mainline with extensions differs only by the documented umdev files (online, reset)', async (t) => {
  const [actual, expected] = [exemptKernelLinks(await render(t, true)), exemptKernelLinks(await reference())];
  const own = /^F (online|reset) \[/;
  const extra = actual.filter((l) => own.test(l));
  assert.ok(extra.length > 0, 'the extensions are shown');
  for (const l of extra) assert.match(l, /^F online \[644 0:0 st_size=4096\] read\(2\)="[01]\\n"$|^F reset \[200 0:0 st_size=4096\] read-error: Permission denied$/);
  assert.deepEqual(diff(actual.filter((l) => !own.test(l)), expected), []);
});
