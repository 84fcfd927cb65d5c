import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('../drivers/mvblk/flush-child.js', import.meta.url));

test('mvblk: a guest flush is an fdatasync of the backing file, and a write alone is not', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'umdev-mvblk-flush-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'strace.log');
  let out: string;
  try {
    // -y names each fd's file, so the syncs of the disk image are told apart from any other.
    out = execFileSync('strace', ['-f', '-y', '-qq', '-e', 'trace=fsync,fdatasync,sync_file_range', '-o', log, process.execPath, CHILD], { encoding: 'utf8', timeout: 60_000 });
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') assert.fail('this test needs strace: apt-get install strace');
    throw e;
  }
  assert.equal(out.trim(), 'ok');
  const syncs = readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('flush.img'));
  assert.equal(syncs.length, 2, `two flushes, two syncs of the image:\n${syncs.join('\n')}`);
  for (const l of syncs) assert.match(l, /fdatasync\(\d+<[^>]*flush\.img>\) = 0/);
});
