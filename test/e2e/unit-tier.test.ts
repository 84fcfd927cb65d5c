/**
 * `npm run test:unit` is promised to work as any user: run the unit tier as uid 65534 on a readable copy of the
 * build (the checkout itself may sit under a 0700 home) and require every test in it to pass.
 */
import assert from 'node:assert/strict';
import { chmod, cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { exec } from '../process.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const NOBODY = 65534;

test('the unit tier passes as an unprivileged user (uid 65534)', { timeout: 300_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'umdev-unit-tier-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await chmod(dir, 0o755);
  // What the unit suites read besides the build: the runner, the commands, man pages, completion, golden files.
  for (const rel of ['dist', 'scripts', 'bin', 'man', 'completions', 'test', 'package.json', 'build/Release/umdev_native.node']) {
    await cp(join(ROOT, rel), join(dir, rel), { recursive: true });
  }
  await mkdir(join(dir, 'home'), { mode: 0o777 });
  await exec('chmod', ['-R', 'a+rX', dir]);
  const r = await exec(process.execPath, [join(dir, 'scripts/run-tests.mjs'), 'unit'], {
    uid: NOBODY,
    gid: NOBODY,
    cwd: dir,
    env: { PATH: process.env.PATH, HOME: join(dir, 'home') },
    timeoutMs: 280_000,
  });
  const tests = Number(/^# tests (\d+)$/m.exec(r.stdout)?.[1]);
  const failed = /^# fail (\d+)$/m.exec(r.stdout)?.[1];
  assert.equal(r.code, 0, `${r.stdout.split('\n').filter((l) => l.startsWith('not ok')).join('\n')}\n${r.stderr}`);
  assert.equal(failed, '0');
  assert.ok(tests > 100, `the unit tier ran ${tests} tests`);
});
