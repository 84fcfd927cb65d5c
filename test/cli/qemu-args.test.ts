/**
 * `umdevctl qemu-args`: into a pipe, arguments that survive a shell's `$(…)` (word splitting, no quote removal)
 * exactly; on a terminal, the same arguments shell-quoted, which a shell reads back intact; and a refusal, pointing
 * at `--json`, for a socket path a shell would split or expand.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { qemuArgs, shellQuote } from '../../src/cli/qemu-args.js';
import { exec } from '../process.js';

const U = '11111111-2222-4222-8222-222222222222';

async function listening(file: string): Promise<Server> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(file, r));
  return s;
}

test('qemu-args: one shell word per argument, so $(…) hands QEMU what was printed; other paths refused unless --json', async (t) => {
  const base = await mkdtemp(path.join(tmpdir(), 'umdev-qa-'));
  t.after(() => rm(base, { recursive: true, force: true }));
  for (const [name, ok] of [['plain', true], ['with space', false], ['glob*', false], ["quote'", false]] as const) {
    const dir = path.join(base, name);
    await mkdir(path.join(dir, 'run'), { recursive: true });
    const srv = await listening(path.join(dir, 'run', `${U}.sock`));
    t.after(() => srv.close());
    if (!ok) {
      await assert.rejects(qemuArgs({ uuids: [U], stateDir: dir, env: {} }, true), /characters a shell would split or expand.*--json/);
      assert.ok((await qemuArgs({ uuids: [U], stateDir: dir, env: {} }, false)).some((a) => a.includes(name)), 'the JSON form carries any path');
      continue;
    }
    const args = await qemuArgs({ uuids: [U, U], stateDir: dir, env: {}, memory: '2G' }, true);
    assert.equal(args.filter((a) => a === '-device').length, 2, 'one device per UUID');
    const r = await exec('sh', ['-c', `printf '%s\\n' $(echo "$0")`, args.join(' ')]);
    assert.deepEqual(r.stdout.trim().split('\n'), args, 'word splitting alone gives back every argument');
    const pasted = await exec('sh', ['-c', `printf '%s\\n' ${args.map(shellQuote).join(' ')}`]);
    assert.deepEqual(pasted.stdout.trim().split('\n'), args, 'the terminal form, pasted, gives back every argument');
    assert.ok(args.includes(JSON.stringify({ driver: 'vfio-user-pci', socket: { path: path.join(dir, 'run', `${U}.sock`), type: 'unix' } })), "QEMU's JSON form of the device");
  }
});
