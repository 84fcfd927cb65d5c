import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync, writeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FdReady, native } from '../../src/native/index.js';
import type { UmdevError } from '../../src/errors.js';
import { errnoOf, fifo, isNonBlocking, tempDir, turns } from './helpers.js';

test('watch fires when data arrives, on the main thread, and not after stop()', async (t) => {
  const { r, w } = fifo(t);
  const seen: string[] = [];
  let notify = (): void => undefined;
  const watcher = native.watch(r, { readable: true }, (e, ev) => {
    assert.equal(e, null);
    assert.equal(ev, FdReady.READABLE, 'readable, and nothing else, as one bit mask');
    const buf = new Uint8Array(64);
    const n = native.read(r, buf, 0, buf.length);
    if (n > 0) seen.push(Buffer.from(buf.subarray(0, n)).toString());
    notify();
  });
  t.after(() => watcher.stop());
  await turns();
  assert.deepEqual(seen, [], 'no event before data');
  const arrived = new Promise<void>((resolve) => (notify = resolve));
  writeSync(w, 'ping');
  await arrived;
  assert.deepEqual(seen, ['ping']);
  watcher.stop();
  watcher.stop();
  writeSync(w, 'late');
  await turns();
  assert.deepEqual(seen, ['ping']);
  assert.throws(() => watcher.update({ readable: true }), { errno: 'EINVAL' });
});

test('update switches interest; {} pauses the watch', async (t) => {
  const { r, w } = fifo(t);
  native.setNonBlocking(w, true);
  let calls = 0;
  let last = 0;
  const watcher = native.watch(w, { readable: true }, (_e, ev) => {
    calls++;
    last = ev;
    watcher.update({});
  });
  t.after(() => watcher.stop());
  await turns();
  assert.equal(calls, 0, 'the write end of a pipe never becomes readable');
  watcher.update({ writable: true });
  await turns();
  assert.equal(calls, 1, 'fires once for writable, then paused by the callback');
  assert.equal(last, FdReady.WRITABLE);
  assert.equal(native.read(r, new Uint8Array(1), 0, 1), -1);
});

test('watch makes the fd non-blocking and rejects fds epoll cannot watch', (t) => {
  const path = join(tempDir(t), 'fifo');
  execFileSync('mkfifo', [path]);
  const fd = openSync(path, constants.O_RDWR);
  t.after(() => closeSync(fd));
  assert.equal(isNonBlocking(fd), false);
  const watcher = native.watch(fd, { readable: true }, () => undefined);
  assert.equal(isNonBlocking(fd), true);
  assert.equal(errnoOf(() => native.watch(fd, { readable: true }, () => undefined)), 'EEXIST');
  watcher.stop();
  const file = join(tempDir(t), 'plain');
  writeFileSync(file, 'x');
  const ffd = openSync(file, 'r');
  t.after(() => closeSync(ffd));
  assert.equal(errnoOf(() => native.watch(ffd, { readable: true }, () => undefined)), 'EPERM');
  assert.equal(errnoOf(() => native.watch(-1, { readable: true }, () => undefined)), 'EBADF');
  assert.equal(errnoOf(() => native.watch(fd, { readable: true }, 'no' as never)), 'EINVAL');
});

const wrapper = fileURLToPath(new URL('../../src/native/index.js', import.meta.url));

/** Runs an ES module snippet in a child Node with `native` imported; returns its exit status and output. */
function child(body: string): { status: number | null; stdout: string; stderr: string } {
  const script = `import { native } from ${JSON.stringify(wrapper)};\nimport { writeSync } from 'node:fs';\n${body}`;
  try {
    const stdout = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 20_000,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    return { status: 0, stdout, stderr: '' };
  } catch (e) {
    const x = e as { status: number | null; stdout: string; stderr: string };
    return { status: x.status, stdout: x.stdout, stderr: x.stderr };
  }
}

// The snippets watch their own stdin (an anonymous pipe from execFileSync that libuv does not already watch).
test('an unref()ed watcher does not keep the process alive; a ref()ed one does', () => {
  const unrefd = child(`const w = native.watch(0, { readable: true }, () => {}); w.unref(); console.log('exiting');`);
  assert.equal(unrefd.status, 0, unrefd.stderr);
  assert.equal(unrefd.stdout, 'exiting\n');
  const refd = child(`const w = native.watch(0, { readable: true }, () => {}); w.unref(); w.ref();
    setTimeout(() => { console.log('still alive'); w.stop(); }, 50);`);
  assert.equal(refd.status, 0, refd.stderr);
  assert.equal(refd.stdout, 'still alive\n');
});

test('an exception thrown by a watch callback is reported as uncaught, with its stack', () => {
  const r = child(`native.setNonBlocking(1, true);
    native.watch(1, { writable: true }, function boom() { throw new Error('callback failed'); });`);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /Error: callback failed\n\s+at \S*boom/);
  const handled = child(`process.on('uncaughtException', (e) => { writeSync(1, 'caught ' + e.message + '\\n'); process.exit(0); });
    native.watch(1, { writable: true }, () => { throw new Error('x'); });`);
  assert.equal(handled.status, 0, handled.stderr);
  assert.equal(handled.stdout, 'caught x\n');
});

test('promise jobs queued by a watch callback run before the next poll', async (t) => {
  const { r, w } = fifo(t);
  const order: string[] = [];
  let done = (): void => undefined;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const watcher = native.watch(r, { readable: true }, () => {
    native.read(r, new Uint8Array(8), 0, 8);
    order.push('callback');
    void Promise.resolve().then(() => {
      order.push('microtask');
      done();
    });
  });
  t.after(() => watcher.stop());
  writeSync(w, 'x');
  await finished;
  assert.deepEqual(order, ['callback', 'microtask']);
});

test('an fd error reaches the callback as an errno error and pauses the watch until update()', async (t) => {
  const { r, w } = fifo(t);
  const errors: string[] = [];
  let notify = (): void => undefined;
  const watcher = native.watch(w, { writable: true }, (e, ev) => {
    if (e) errors.push(`${(e as UmdevError).errno} ${ev}`);
    else watcher.update({});
    notify();
  });
  t.after(() => watcher.stop());
  await turns();
  let failed = new Promise<void>((resolve) => (notify = resolve));
  closeSync(r); // POLLERR on the write end: nobody will read
  watcher.update({ writable: true });
  await failed;
  assert.deepEqual(errors, ['EBADF 0']);
  failed = new Promise<void>((resolve) => (notify = resolve));
  watcher.update({ writable: true });
  await failed;
  assert.deepEqual(errors, ['EBADF 0', 'EBADF 0']);
});

test('a worker that ends with live watchers and mappings leaves the process healthy', () => {
  // The parent of the workers never loads the addon, so each worker's teardown really unloads it: a handle closed
  // after that would crash the process.
  const worker = `import { native } from ${JSON.stringify(wrapper)};
    const [a, b] = native.socketpair();
    native.watch(a, { readable: true }, () => {});
    native.watch(b, { writable: true }, () => {}).stop();
    native.watch(native.eventfd(0), { readable: true }, () => {}).unref();
    const fd = native.memfdCreate('umdev-worker', native.pageSize());
    globalThis.kept = native.mmap(fd, 0, native.pageSize(), true);
    (await import('node:worker_threads')).parentPort.postMessage('ready');
    if (process.env.HOW === 'exit') process.exit(7);`;
  const parent = `import { Worker } from 'node:worker_threads';
    for (const how of ['terminate', 'exit']) {
      const w = new Worker(${JSON.stringify(worker)}, { eval: true, env: { HOW: how } });
      const exited = new Promise((resolve) => w.once('exit', resolve));
      await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
      if (how === 'terminate') await w.terminate();
      console.log(how, await exited);
    }`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', parent], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(out, 'terminate 1\nexit 7\n');
});

test('hangup alone: a watch that does not read still sees the peer of a socket go away', async (t) => {
  const [a, b] = native.socketpair();
  t.after(() => {
    for (const fd of [a, b]) {
      try {
        closeSync(fd);
      } catch {
        // closed by the test
      }
    }
  });
  const seen: number[] = [];
  const watcher = native.watch(a, { hangup: true }, (_e, ev) => {
    seen.push(ev);
    watcher.update({});
  });
  t.after(() => watcher.stop());
  native.sendMsg(b, [Buffer.from('unread data')]);
  await turns();
  assert.equal(seen.length, 0, 'data alone does not fire a hangup-only watch');
  closeSync(b);
  await turns();
  assert.equal(seen.length, 1);
  assert.equal(seen[0]! & FdReady.HANGUP, FdReady.HANGUP);
});
