import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, readdirSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { native } from '../../src/native/index.js';
import { closeAfter, errnoOf, fifo, isNonBlocking, tempDir, turns } from './helpers.js';

const text = (b: Uint8Array, n: number): string => Buffer.from(b.subarray(0, n)).toString();

function isCloexec(fd: number): boolean {
  const flags = /flags:\s*([0-7]+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
  return (parseInt(flags ?? '0', 8) & 0o2000000) !== 0;
}

const openFds = (): number => readdirSync('/proc/self/fd').length;

test('socketpair carries bytes; recvMsg is null when empty and 0 bytes at EOF', (t) => {
  const [a, b] = native.socketpair();
  closeAfter(t, a, b);
  assert.ok(isNonBlocking(a) && isNonBlocking(b) && isCloexec(a) && isCloexec(b));
  const buf = new Uint8Array(32);
  assert.equal(native.recvMsg(b, buf, 0, 32, 4), null);
  assert.equal(native.sendMsg(a, [Buffer.from('one'), Buffer.from('-two'), new Uint8Array(0)]), 7);
  assert.deepEqual(native.recvMsg(b, buf, 2, 30, 4), { bytes: 7, fds: [] });
  assert.equal(text(buf.subarray(2), 7), 'one-two');
  native.close(a);
  assert.deepEqual(native.recvMsg(b, buf, 0, 32, 4), { bytes: 0, fds: [] });
});

test('an fd sent over a socketpair is the same pipe: writing through it reaches the original', (t) => {
  const [a, b] = native.socketpair();
  closeAfter(t, a, b);
  const pipe = fifo(t);
  assert.equal(native.sendMsg(a, [Buffer.from('x')], [pipe.w]), 1);
  const buf = new Uint8Array(16);
  const got = native.recvMsg(b, buf, 0, 16, 4);
  assert.ok(got);
  assert.equal(got.bytes, 1);
  assert.equal(got.fds.length, 1);
  const [passed] = got.fds as [number];
  closeAfter(t, passed);
  assert.notEqual(passed, pipe.w);
  assert.ok(isCloexec(passed), 'received fds are close-on-exec');
  assert.equal(native.write(passed, Buffer.from('through the passed fd'), 0, 21), 21);
  const out = new Uint8Array(64);
  assert.equal(text(out, native.read(pipe.r, out, 0, 64)), 'through the passed fd');
});

test('several fds in one message arrive in order', (t) => {
  const [a, b] = native.socketpair();
  closeAfter(t, a, b);
  const pipes = [fifo(t), fifo(t), fifo(t)];
  assert.equal(native.sendMsg(a, [Buffer.from('abc')], pipes.map((p) => p.w)), 3);
  const got = native.recvMsg(b, new Uint8Array(8), 0, 8, 8);
  assert.ok(got);
  assert.equal(got.fds.length, 3);
  closeAfter(t, ...got.fds);
  got.fds.forEach((fd, i) => native.write(fd, Buffer.from(`pipe${i}`), 0, 5));
  const buf = new Uint8Array(8);
  pipes.forEach((p, i) => assert.equal(text(buf, native.read(p.r, buf, 0, 8)), `pipe${i}`));
});

test('more fds than maxFds is EMSGSIZE and leaks none of them', (t) => {
  const [a, b] = native.socketpair();
  closeAfter(t, a, b);
  const pipes = [fifo(t), fifo(t), fifo(t)];
  native.sendMsg(a, [Buffer.from('m')], pipes.map((p) => p.w));
  native.sendMsg(a, [Buffer.from('n')], [pipes[0]!.w]);
  const before = openFds();
  assert.equal(errnoOf(() => native.recvMsg(b, new Uint8Array(8), 0, 8, 1)), 'EMSGSIZE');
  assert.equal(openFds(), before);
  assert.equal(errnoOf(() => native.recvMsg(b, new Uint8Array(8), 0, 8, 0)), 'EMSGSIZE');
  assert.equal(openFds(), before);
});

test('recvMsgInto reuses one Int32Array: [count, fds...], -1 when empty, EINVAL without a slot for the count', (t) => {
  const [a, b] = native.socketpair();
  closeAfter(t, a, b);
  const slots = new Int32Array(3);
  const buf = new Uint8Array(8);
  assert.equal(native.recvMsgInto(b, buf, 0, 8, slots), -1);
  const pipes = [fifo(t), fifo(t)];
  native.sendMsg(a, [Buffer.from('ab')], pipes.map((p) => p.w));
  assert.equal(native.recvMsgInto(b, buf, 0, 8, slots), 2);
  assert.equal(slots[0], 2);
  const got = [slots[1]!, slots[2]!];
  closeAfter(t, ...got);
  got.forEach((fd, i) => native.write(fd, Buffer.from(`p${i}`), 0, 2));
  pipes.forEach((p, i) => assert.equal(text(buf, native.read(p.r, buf, 0, 8)), `p${i}`));
  native.sendMsg(a, [Buffer.from('c')]);
  assert.equal(native.recvMsgInto(b, buf, 0, 8, slots), 1);
  assert.equal(slots[0], 0, 'a message without fds resets the count');
  const before = openFds();
  native.sendMsg(a, [Buffer.from('d')], [pipes[0]!.w, pipes[1]!.w, pipes[0]!.w]);
  assert.equal(errnoOf(() => native.recvMsgInto(b, buf, 0, 8, slots)), 'EMSGSIZE', 'three fds, room for two');
  assert.equal(openFds(), before);
  assert.equal(errnoOf(() => native.recvMsgInto(b, buf, 0, 8, new Int32Array(0))), 'EINVAL');
  assert.equal(errnoOf(() => native.recvMsgInto(b, buf, 0, 8, new Uint32Array(2) as never)), 'EINVAL');
});

test('recvMsgInto and read with spinNs: data already there at once, -1 once the window passes empty, 0 at EOF; over 1 ms is EINVAL', (t) => {
  const [a, b] = native.socketpair();
  closeAfter(t, a);
  const slots = new Int32Array(2);
  const buf = new Uint8Array(8);
  assert.equal(native.recvMsgInto(b, buf, 0, 8, slots, 20_000), -1);
  assert.equal(native.read(b, buf, 0, 8, 20_000), -1);
  native.send(a, Buffer.from('xy'), 0, 2);
  assert.equal(native.recvMsgInto(b, buf, 0, 8, slots, 1_000_000), 2);
  native.send(a, Buffer.from('z'), 0, 1);
  assert.equal(native.read(b, buf, 0, 8, 1_000_000), 1);
  for (const bad of [1_000_001, -1, 0.5]) {
    assert.equal(errnoOf(() => native.recvMsgInto(b, buf, 0, 8, slots, bad)), 'EINVAL', String(bad));
    assert.equal(errnoOf(() => native.read(b, buf, 0, 8, bad)), 'EINVAL', String(bad));
  }
  native.close(b);
  const [c, d] = native.socketpair();
  closeAfter(t, d);
  native.close(c);
  assert.equal(native.recvMsgInto(d, buf, 0, 8, slots, 20_000), 0, 'EOF ends the spin');
});

test('send writes one window of a buffer, -1 when the socket is full, EPIPE (no signal) once the peer is gone', (t) => {
  const [a, b] = native.socketpair();
  closeAfter(t, a);
  const buf = Buffer.from('xxhello');
  assert.equal(native.send(a, buf, 2, 5), 5);
  const got = new Uint8Array(8);
  assert.equal(text(got, native.read(b, got, 0, 8)), 'hello');
  assert.equal(errnoOf(() => native.send(a, buf, 4, 5)), 'EINVAL', 'window past the end');
  const chunk = Buffer.alloc(1 << 16, 1);
  let n: number;
  while ((n = native.send(a, chunk, 0, chunk.length)) > 0);
  assert.equal(n, -1);
  native.close(b);
  assert.equal(errnoOf(() => native.send(a, buf, 0, 1)), 'EPIPE');
});

test('listenUnix, connectUnix and accept pass fds between separate sockets', (t) => {
  const path = join(tempDir(t), 'sock');
  const lfd = native.listenUnix(path, 8, 0o600);
  closeAfter(t, lfd);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.ok(statSync(path).isSocket());
  assert.equal(native.accept(lfd), -1);
  const client = native.connectUnix(path);
  closeAfter(t, client);
  const server = native.accept(lfd);
  closeAfter(t, server);
  assert.ok(server >= 0);
  for (const fd of [client, server]) assert.ok(isNonBlocking(fd) && isCloexec(fd));
  const pipe = fifo(t);
  assert.equal(native.sendMsg(client, [Buffer.from('hello')], [pipe.w]), 5);
  const buf = new Uint8Array(16);
  const got = native.recvMsg(server, buf, 0, 16, 1);
  assert.ok(got);
  assert.equal(text(buf, got.bytes), 'hello');
  closeAfter(t, ...got.fds);
  native.write(got.fds[0]!, Buffer.from('ok'), 0, 2);
  assert.equal(text(buf, native.read(pipe.r, buf, 0, 16)), 'ok');
  native.close(client);
  assert.deepEqual(native.recvMsg(server, buf, 0, 16, 1), { bytes: 0, fds: [] });
});

test('listenUnix creates the socket with its final mode and group, listening, and leaves no temp dir', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'api.sock');
  const lfd = native.listenUnix(path, 4, 0o660, 65534);
  closeAfter(t, lfd);
  const st = statSync(path);
  assert.ok(st.isSocket());
  assert.equal(st.mode & 0o7777, 0o660);
  assert.equal(st.gid, 65534);
  assert.deepEqual(readdirSync(dir), ['api.sock'], 'the private bind dir is gone');
  const c = native.connectUnix(path);
  closeAfter(t, c);
  assert.ok(native.accept(lfd) >= 0, 'it was listening when it appeared');
  // A second listener on the same path is refused and leaves no temp dir either.
  assert.equal(errnoOf(() => native.listenUnix(path, 1, 0o600)), 'EADDRINUSE');
  assert.deepEqual(readdirSync(dir), ['api.sock']);
  assert.equal(errnoOf(() => native.listenUnix(join(dir, 'x'), 1, undefined, 0)), 'EINVAL');
  assert.equal(errnoOf(() => native.listenUnix(join(dir, 'x'), 1, undefined, undefined, 0)), 'EINVAL');
});

test('listenUnix gives the socket its final owner too (uid and gid), never changed after it appears', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'dev.sock');
  closeAfter(t, native.listenUnix(path, 4, 0o600, 65534, 65534));
  const st = statSync(path);
  assert.deepEqual([st.mode & 0o7777, st.uid, st.gid], [0o600, 65534, 65534]);
  const owned = join(dir, 'owner-only.sock');
  closeAfter(t, native.listenUnix(owned, 4, 0o600, undefined, 65534));
  assert.deepEqual([statSync(owned).uid, statSync(owned).gid], [65534, process.getgid?.()]);
});

test('peerCred names the connecting process, its ids and groups', async (t) => {
  const dir = tempDir(t);
  chmodSync(dir, 0o755);
  const path = join(dir, 's');
  const lfd = native.listenUnix(path, 4, 0o666);
  closeAfter(t, lfd);
  const c = native.connectUnix(path);
  closeAfter(t, c);
  const s = native.accept(lfd);
  closeAfter(t, s);
  const mine = native.peerCred(s);
  assert.equal(mine.pid, process.pid);
  assert.equal(mine.uid, process.getuid?.());
  assert.equal(mine.gid, process.getgid?.());
  const status = /^Groups:(.*)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '';
  assert.deepEqual([...mine.groups].sort(), status.trim().split(/\s+/).filter(Boolean).map(Number).sort());
  // Another user: a child running as nobody with an extra group connects and stays until we have looked.
  // curl connects, sends a request and waits for an answer that never comes; setpriv execs it in the same process.
  const child = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--groups=4242,4243', '/usr/bin/curl', '-s', '--unix-socket', path, 'http://x/'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  t.after(() => child.kill());
  let fd = -1;
  for (let i = 0; i < 200 && fd < 0; i++) {
    fd = native.accept(lfd);
    if (fd < 0) await turns(1);
  }
  assert.ok(fd >= 0, 'the child connected');
  closeAfter(t, fd);
  const other = native.peerCred(fd);
  assert.equal(other.pid, child.pid);
  assert.equal(other.uid, 65534);
  assert.deepEqual([...other.groups].sort(), [4242, 4243]);
  assert.equal(other.gid, 65534);
  const [a, b] = native.socketpair();
  closeAfter(t, a, b);
  assert.equal(native.peerCred(a).pid, process.pid, 'a socketpair peer is this process');
  assert.equal(errnoOf(() => native.peerCred(-1)), 'EBADF');
});

test('socket errors carry errno names', (t) => {
  const dir = tempDir(t);
  assert.equal(errnoOf(() => native.connectUnix(join(dir, 'missing'))), 'ENOENT');
  const path = join(dir, 'sock');
  closeAfter(t, native.listenUnix(path, 1));
  assert.equal(errnoOf(() => native.listenUnix(path, 1)), 'EADDRINUSE');
  assert.equal(errnoOf(() => native.connectUnix('/' + 'x'.repeat(200))), 'ENAMETOOLONG');
  assert.equal(errnoOf(() => native.listenUnix(join(dir, 'nodir', 's'), 1)), 'ENOENT');
  const { r } = fifo(t);
  assert.equal(errnoOf(() => native.sendMsg(r, [Buffer.from('x')])), 'ENOTSOCK');
  assert.equal(errnoOf(() => native.accept(-1)), 'EBADF');
  const [a, b] = native.socketpair();
  closeAfter(t, a);
  assert.equal(errnoOf(() => native.sendMsg(a, [], [r])), 'EINVAL');
  assert.equal(errnoOf(() => native.sendMsg(a, [Buffer.from('x')], [1.5])), 'EINVAL');
  assert.equal(errnoOf(() => native.sendMsg(a, ['x' as unknown as Uint8Array])), 'EINVAL');
  native.close(b);
  // A dead peer is EPIPE, not a SIGPIPE that kills the process.
  assert.equal(errnoOf(() => native.sendMsg(a, [Buffer.from('x')])), 'EPIPE');
});

test('sendMsg reports partial sends and -1 when the socket is full', (t) => {
  const [a, b] = native.socketpair();
  closeAfter(t, a, b);
  const chunk = Buffer.alloc(1 << 16, 1);
  let sent = 0;
  let n: number;
  while ((n = native.sendMsg(a, [chunk, chunk])) > 0) sent += n;
  assert.equal(n, -1);
  const buf = new Uint8Array(1 << 17);
  let received = 0;
  let got;
  while ((got = native.recvMsg(b, buf, 0, buf.length, 0)) !== null) received += got.bytes;
  assert.equal(received, sent);
});

test('a watcher on a socket fires when a message with an fd arrives', async (t) => {
  const [a, b] = native.socketpair();
  closeAfter(t, a, b);
  const pipe = fifo(t);
  const received: number[][] = [];
  let notify = (): void => undefined;
  const watcher = native.watch(b, { readable: true }, () => {
    const got = native.recvMsg(b, new Uint8Array(4), 0, 4, 2);
    if (got) received.push(got.fds);
    notify();
  });
  t.after(() => watcher.stop());
  await turns(2);
  assert.equal(received.length, 0);
  const arrived = new Promise<void>((resolve) => (notify = resolve));
  native.sendMsg(a, [Buffer.from('!')], [pipe.w]);
  await arrived;
  assert.equal(received.length, 1);
  closeAfter(t, ...received[0]!);
  writeSync(received[0]![0]!, 'z');
  const buf = new Uint8Array(2);
  assert.equal(text(buf, native.read(pipe.r, buf, 0, 2)), 'z');
});
