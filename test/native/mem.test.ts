import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fstatSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Seal, native } from '../../src/native/index.js';
import { closeAfter, errnoOf, isNonBlocking, turns } from './helpers.js';

test('eventfd counts: write 3 then read 3, then empty; always close-on-exec', (t) => {
  const fd = native.eventfd(0, { nonblock: true });
  closeAfter(t, fd);
  assert.equal(native.eventfdRead(fd), null);
  native.eventfdWrite(fd, 3n);
  assert.equal(native.eventfdRead(fd), 3n);
  assert.equal(native.eventfdRead(fd), null);
  native.eventfdWrite(fd, 1n);
  native.eventfdWrite(fd, 2n);
  assert.equal(native.eventfdRead(fd), 3n);
  const init = native.eventfd(7, { nonblock: true });
  closeAfter(t, init);
  assert.equal(native.eventfdRead(init), 7n);
});

test('eventfd semaphore mode hands out one at a time', (t) => {
  const fd = native.eventfd(2, { nonblock: true, semaphore: true });
  closeAfter(t, fd);
  assert.equal(native.eventfdRead(fd), 1n);
  assert.equal(native.eventfdRead(fd), 1n);
  assert.equal(native.eventfdRead(fd), null);
});

test('eventfd errors: overflow is EAGAIN, 2^64-1 is EINVAL, bad fds are EBADF', (t) => {
  const fd = native.eventfd(0, { nonblock: true });
  closeAfter(t, fd);
  native.eventfdWrite(fd, 0xfffffffffffffffen);
  assert.equal(errnoOf(() => native.eventfdWrite(fd, 1n)), 'EAGAIN');
  assert.equal(errnoOf(() => native.eventfdWrite(fd, 0xffffffffffffffffn)), 'EINVAL');
  assert.equal(errnoOf(() => native.eventfdWrite(fd, -1n)), 'EINVAL');
  assert.equal(errnoOf(() => native.eventfdRead(-1)), 'EBADF');
  assert.equal(errnoOf(() => native.eventfd(2 ** 32)), 'EINVAL');
});

test('a watcher on an eventfd fires when it is signalled', async (t) => {
  const fd = native.eventfd(0, { nonblock: true });
  closeAfter(t, fd);
  const got: bigint[] = [];
  let notify = (): void => undefined;
  const watcher = native.watch(fd, { readable: true }, () => {
    const v = native.eventfdRead(fd);
    if (v !== null) got.push(v);
    notify();
  });
  t.after(() => watcher.stop());
  await turns(2);
  assert.deepEqual(got, []);
  const signalled = new Promise<void>((resolve) => (notify = resolve));
  native.eventfdWrite(fd, 5n);
  await signalled;
  assert.deepEqual(got, [5n]);
});

test('memfd + mmap: writes through one mapping show in another and through read(2)', (t) => {
  const page = native.pageSize();
  assert.ok(page >= 4096 && (page & (page - 1)) === 0);
  const fd = native.memfdCreate('umdev-test', 2 * page);
  closeAfter(t, fd);
  const whole = native.mmap(fd, 0, 2 * page, true);
  const second = native.mmap(fd, BigInt(page), page, true);
  t.after(() => {
    native.munmap(whole);
    native.munmap(second);
  });
  assert.equal(whole.byteLength, 2 * page);
  const a = new Uint8Array(whole);
  const b = new Uint8Array(second);
  assert.equal(a[0], 0, 'a new memfd is zero-filled');
  a.set(Buffer.from('shared'), page + 5);
  assert.equal(Buffer.from(b.subarray(5, 11)).toString(), 'shared');
  const viaRead = Buffer.alloc(6);
  assert.equal(readSync(fd, viaRead, 0, 6, page + 5), 6);
  assert.equal(viaRead.toString(), 'shared');
  writeSync(fd, Buffer.from('written'), 0, 7, 1);
  assert.equal(Buffer.from(a.subarray(1, 8)).toString(), 'written');
  const ro = native.mmap(fd, 0, page, false);
  assert.equal(Buffer.from(new Uint8Array(ro).subarray(1, 8)).toString(), 'written');
  native.munmap(ro);
});

test('munmap detaches the buffer and is idempotent', (t) => {
  const page = native.pageSize();
  const fd = native.memfdCreate('umdev-test', page);
  closeAfter(t, fd);
  const ab = native.mmap(fd, 0, page, true);
  const view = new Uint8Array(ab);
  native.munmap(ab);
  assert.equal(ab.byteLength, 0);
  assert.equal(view.length, 0, 'views of an unmapped buffer are empty, not dangling');
  native.munmap(ab);
  assert.equal(errnoOf(() => native.munmap(new ArrayBuffer(8))), 'EINVAL');
  assert.equal(errnoOf(() => native.munmap(new Uint8Array(8) as unknown as ArrayBuffer)), 'EINVAL');
});

test('mmap and memfd errors carry errno names', (t) => {
  const page = native.pageSize();
  const fd = native.memfdCreate('umdev-test', page);
  closeAfter(t, fd);
  assert.equal(errnoOf(() => native.mmap(fd, 1, page, true)), 'EINVAL');
  assert.equal(errnoOf(() => native.mmap(fd, 0, 0, true)), 'EINVAL');
  assert.equal(errnoOf(() => native.mmap(-1, 0, page, true)), 'EBADF');
  assert.equal(errnoOf(() => native.memfdCreate('x'.repeat(250), page)), 'EINVAL');
  assert.equal(errnoOf(() => native.memfdCreate('x', -1)), 'EINVAL');
});

test('collected mappings are unmapped once; an explicit munmap is never repeated by the finalizer', () => {
  const wrapper = fileURLToPath(new URL('../../src/native/index.js', import.meta.url));
  const script = `import { native } from ${JSON.stringify(wrapper)};
    import { readFileSync } from 'node:fs';
    const count = (name) => readFileSync('/proc/self/maps', 'utf8').split('\\n').filter((l) => l.includes(name)).length;
    const settle = async () => { for (let i = 0; i < 4; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 10)); } };
    const page = native.pageSize();
    const dropped = native.memfdCreate('umdev-dropped', page);
    (() => { for (let i = 0; i < 50; i++) new Uint8Array(native.mmap(dropped, 0, page, true))[0] = i; })();
    const before = count('memfd:umdev-dropped');
    await settle();
    const after = count('memfd:umdev-dropped');
    const kept = native.memfdCreate('umdev-kept', page);
    let first = native.mmap(kept, 0, page, true);
    native.munmap(first);
    first = null;
    const second = native.mmap(kept, 0, page, true);
    await settle();
    new Uint8Array(second)[0] = 42;
    console.log(JSON.stringify({ before, after, kept: count('memfd:umdev-kept') }));`;
  const out = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.deepEqual(JSON.parse(out), { before: 50, after: 0, kept: 1 });
});

test('eventfdSignal never blocks: a full counter drops the signal, even on a blocking eventfd', (t) => {
  const fd = native.eventfd(0); // blocking, as a hostile client may pass it
  closeAfter(t, fd);
  assert.equal(native.eventfdSignal(fd), true);
  assert.equal(isNonBlocking(fd), true, 'the fd was made non-blocking before the write');
  native.eventfdWrite(fd, 0xfffffffffffffffdn);
  assert.equal(native.eventfdSignal(fd), false, 'full: dropped, not blocked');
  assert.equal(native.eventfdRead(fd), 0xfffffffffffffffen);
  assert.equal(native.eventfdSignal(fd), true);
  assert.equal(native.eventfdRead(fd), 1n);
  assert.equal(errnoOf(() => native.eventfdSignal(-1)), 'EBADF');
});

test('memfdCreate with seals; getSeals reads them (0 for files that cannot carry seals)', (t) => {
  const sealed = native.memfdCreate('sealed', 0x2000, Seal.SHRINK | Seal.GROW);
  const plain = native.memfdCreate('plain', 0x1000);
  closeAfter(t, sealed, plain);
  assert.equal(native.getSeals(sealed), Seal.SHRINK | Seal.GROW);
  assert.equal(fstatSync(sealed).size, 0x2000, 'sized before sealing');
  assert.equal(native.getSeals(plain), Seal.SEAL, 'a memfd made without MFD_ALLOW_SEALING is sealed against seals');
  assert.throws(() => ftruncateSync(sealed, 0x1000), /EPERM/);
  const file = openSync(fileURLToPath(import.meta.url), 'r');
  closeAfter(t, file);
  assert.equal(native.getSeals(file), 0);
  assert.equal(errnoOf(() => native.getSeals(-1)), 'EBADF');
});
