import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, constants, copyFileSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { native } from '../../src/native/index.js';
import { UmdevError, toUmdevError } from '../../src/errors.js';
import { errnoOf, fifo, isNonBlocking, tempDir } from './helpers.js';

test('non-blocking read returns -1 when empty, the bytes when written, 0 at EOF', (t) => {
  const { r, w } = fifo(t);
  const buf = new Uint8Array(16);
  assert.equal(native.read(r, buf, 0, 16), -1);
  writeSync(w, 'hello');
  assert.equal(native.read(r, buf, 4, 8), 5);
  assert.equal(Buffer.from(buf.subarray(4, 9)).toString(), 'hello');
  assert.equal(native.read(r, buf, 0, 16), -1);
  closeSync(w);
  assert.equal(native.read(r, buf, 0, 16), 0);
});

test('write returns the count and -1 once a non-blocking pipe is full', (t) => {
  const { r, w } = fifo(t);
  native.setNonBlocking(w, true);
  const chunk = Buffer.alloc(4096, 7);
  assert.equal(native.write(w, chunk, 1, 100), 100);
  let total = 100;
  let n: number;
  while ((n = native.write(w, chunk, 0, chunk.length)) > 0) total += n;
  assert.equal(n, -1);
  const sink = new Uint8Array(65536);
  let drained = 0;
  while ((n = native.read(r, sink, 0, sink.length)) > 0) drained += n;
  assert.equal(drained, total);
});

test('setNonBlocking sets and clears O_NONBLOCK', (t) => {
  const path = join(tempDir(t), 'f');
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT);
  t.after(() => closeSync(fd));
  assert.equal(isNonBlocking(fd), false);
  native.setNonBlocking(fd, true);
  assert.equal(isNonBlocking(fd), true);
  native.setNonBlocking(fd, false);
  assert.equal(isNonBlocking(fd), false);
});

test('syscall errors carry the errno name', (t) => {
  assert.equal(errnoOf(() => native.close(-1)), 'EBADF');
  assert.equal(errnoOf(() => native.read(-1, new Uint8Array(1), 0, 1)), 'EBADF');
  assert.equal(errnoOf(() => native.setNonBlocking(-1, true)), 'EBADF');
  const { r } = fifo(t);
  assert.equal(errnoOf(() => native.write(r, new Uint8Array(1), 0, 1)), 'EBADF');
  try {
    native.close(-1);
  } catch (e) {
    assert.ok(e instanceof UmdevError);
    assert.equal(e.code, 9);
    assert.match(e.message, /close: Bad file descriptor \(EBADF\)/);
    assert.equal(toUmdevError(e), e);
  }
});

test('closed fds are really closed', (t) => {
  const { r } = fifo(t);
  native.close(r);
  assert.equal(errnoOf(() => native.read(r, new Uint8Array(1), 0, 1)), 'EBADF');
});

test('bad arguments are EINVAL, not crashes', (t) => {
  const { r } = fifo(t);
  const buf = new Uint8Array(8);
  assert.equal(errnoOf(() => native.read(r, buf, 4, 5)), 'EINVAL');
  assert.equal(errnoOf(() => native.read(r, buf, 9, 0)), 'EINVAL');
  assert.equal(errnoOf(() => native.read(r, buf, -1, 1)), 'EINVAL');
  assert.equal(errnoOf(() => native.read(r, buf, 0.5, 1)), 'EINVAL');
  assert.equal(errnoOf(() => native.read(r, 'x' as unknown as Uint8Array, 0, 1)), 'EINVAL');
  assert.equal(errnoOf(() => native.read(1.5, buf, 0, 1)), 'EINVAL');
  // A view's offset is relative to the view, not to its ArrayBuffer.
  const big = new Uint8Array(32);
  assert.equal(native.read(r, big.subarray(30), 0, 2), -1);
  assert.equal(errnoOf(() => native.read(r, big.subarray(30), 0, 3)), 'EINVAL');
});

test('without the built addon, importing works and every call throws ENOSYS saying how to build it', async (t) => {
  const root = tempDir(t);
  const dist = fileURLToPath(new URL('../../', import.meta.url));
  for (const file of ['src/native/index.js', 'src/errors.js']) {
    mkdirSync(dirname(join(root, 'dist', file)), { recursive: true });
    copyFileSync(join(dist, file), join(root, 'dist', file));
  }
  const mod = (await import(pathToFileURL(join(root, 'dist/src/native/index.js')).href)) as typeof import('../../src/native/index.js');
  for (const call of [() => mod.native.pageSize(), () => mod.native.watch(0, {}, () => undefined)]) {
    assert.throws(call, (e: unknown) => {
      assert.equal((e as UmdevError).errno, 'ENOSYS');
      assert.match((e as Error).message, /native addon not built: run `npm ci` \(needs g\+\+, make, python3\)/);
      return true;
    });
  }
});
