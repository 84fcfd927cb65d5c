/**
 * `umdevctl exec -- mdevctl …` against a running umdevd (the real mdevctl sees the daemon's tree in a fresh mount
 * namespace, also after a restart), and `umdevctl qemu-args` for a started device.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { BIN, run, start, stateDir } from './umdevd-process.js';

const umdevctl = (args: readonly string[]): ReturnType<typeof run> => run(path.join(BIN, 'umdevctl'), args);

test('umdevctl exec -- mdevctl types/start/list sees the running daemon, and a fresh namespace after a restart', async (t) => {
  const ctx = await stateDir(t, 'umdevctl-exec-');
  const d = await start(ctx);
  const types = await umdevctl(['exec', '--state-dir', ctx.dir, '--', 'mdevctl', 'types']);
  assert.equal(types.code, 0, types.stderr);
  assert.match(types.stdout, /^mtty\n {2}mtty-1\n {4}Available instances: 24\n/);
  const started = await umdevctl(['exec', '--state-dir', ctx.dir, '--', 'mdevctl', 'start', '-p', 'mtty', '-t', 'mtty-2']);
  assert.equal(started.code, 0, started.stderr);
  const uuid = started.stdout.trim();
  const qa = await umdevctl(['qemu-args', '--state-dir', ctx.dir, '--json', '--memory', '2G', uuid]);
  assert.equal(qa.code, 0, qa.stderr);
  assert.deepEqual(JSON.parse(qa.stdout), {
    args: ['-object', 'memory-backend-memfd,id=mem,size=2G,share=on', '-machine', 'q35,memory-backend=mem', '-device',
      JSON.stringify({ driver: 'vfio-user-pci', socket: { path: path.join(ctx.dir, 'run', `${uuid}.sock`), type: 'unix' } })],
  });
  const text = await umdevctl(['qemu-args', '--state-dir', ctx.dir, uuid]);
  assert.match(text.stdout, /^-object memory-backend-memfd,id=mem,size=1G,share=on -machine q35,memory-backend=mem -device \{"driver":"vfio-user-pci","socket":\{"path":"\/\S+\.sock","type":"unix"\}\}\n$/);
  // On a terminal (script(1) gives it one), the words are quoted for pasting: a shell reads them back the same.
  const onTty = await run('script', ['-qec', `${path.join(BIN, 'umdevctl')} qemu-args --state-dir ${ctx.dir} ${uuid}`, '/dev/null']);
  assert.match(onTty.stdout, / -device '\{"driver":"vfio-user-pci",/);
  const pasted = await run('sh', ['-c', `printf '%s\\n' ${onTty.stdout.trim()}`]);
  assert.deepEqual(pasted.stdout.trim().split('\n'), text.stdout.trim().split(' '));
  // As a shell hands them to QEMU inside $(…): word splitting, no quote removal. Each argument arrives intact.
  const words = await run('sh', ['-c', 'printf "%s\\n" $("$0" qemu-args --state-dir "$1" "$2")', path.join(BIN, 'umdevctl'), ctx.dir, uuid]);
  assert.equal(words.code, 0, words.stderr);
  assert.deepEqual(words.stdout.trim().split('\n'), text.stdout.trim().split(' '));
  const missing = await umdevctl(['qemu-args', '--state-dir', ctx.dir, '11111111-2222-4222-8222-222222222222']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /No vfio-user socket at/);
  const failing = await umdevctl(['exec', '--state-dir', ctx.dir, '--', 'sh', '-c', 'exit 3']);
  assert.equal(failing.code, 3, 'the command exit status is umdevctl\'s');
  // A restart: a new exec sees the new daemon's tree (an old namespace would see ENOTCONN).
  process.kill(d.pid, 'SIGTERM');
  await d.exited;
  const down = await umdevctl(['exec', '--state-dir', ctx.dir, '--', 'mdevctl', 'types']);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /is not mounted: no umdevd serves .* \(from --state-dir\)/);
  await start(ctx);
  const again = await umdevctl(['exec', '--state-dir', ctx.dir, '--', 'mdevctl', 'list']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout, '\n', 'the restarted daemon has no devices, and mdevctl reads its tree');
});
