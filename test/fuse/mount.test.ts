// A real mount of a toy tree, driven from child processes: modes, reads, writes, errnos, symlinks, dynamic entries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { err } from '../../src/errors.js';
import { ToyTree } from './toy-tree.js';
import { waitFor } from '../process.js';
import { py, serve, sh } from './helpers.js';

/** A Python prelude: `attempt(f)` prints `ok <result>` or the errno name. */
const PRELUDE = `
import os, sys, errno, stat
def attempt(f):
    try:
        r = f()
        print('ok', r)
    except OSError as e:
        print(errno.errorcode[e.errno])
m = sys.argv[1]
`;

function toyTree(): ToyTree {
  let value = 'initial\n';
  const tree = new ToyTree();
  tree
    .file('value', 0o644, () => value, (d) => void (value = d.toString()))
    .file('ro', 0o444, () => 'read only\n')
    .file('wo', 0o200, undefined, () => undefined)
    .file('invalid', 0o200, undefined, () => {
      throw err('EINVAL', 'bad value');
    })
    .file('exists', 0o200, undefined, () => {
      throw err('EEXIST', 'already there');
    })
    .file('bug', 0o644, () => {
      throw new TypeError('a bug in show');
    })
    .file('slow', 0o644, async () => {
      await sleep(20);
      return Buffer.from('slow value\n');
    }, async (d) => {
      await sleep(20);
      if (d.toString() === 'no\n') throw err('ENOSPC', 'full');
    })
    .file('big', 0o444, () => 'x'.repeat(10000))
    .dir('devices')
    .file('create', 0o200, undefined, (d) => {
      const name = d.toString().trim();
      if (tree.has(`devices/${name}`)) throw err('EEXIST', `${name} exists`);
      tree.dir(`devices/${name}`).file(`devices/${name}/remove`, 0o200, undefined, () => void tree.remove(`devices/${name}`));
      tree.file(`devices/${name}/name`, 0o444, () => `${name}\n`);
    })
    .dir('sub')
    .link('sub/up', '../value')
    .link('devlink', 'devices');
  return tree;
}

test('readdir lists . and .. and the entries in order; stat modes and sizes are sysfs-like (a link\'s size is its length)', async (t) => {
  const { mnt } = await serve(t, toyTree());
  const ls = await sh('ls -a "$0"', mnt);
  assert.equal(ls.code, 0, ls.stderr);
  assert.deepEqual(ls.stdout.trim().split('\n').sort(), ['.', '..', 'big', 'bug', 'create', 'devices', 'devlink', 'exists', 'invalid', 'ro', 'slow', 'sub', 'value', 'wo'].sort());
  const r = await py(
    PRELUDE +
      `
for n in ['value', 'ro', 'wo', 'devices', 'devlink', 'sub/up', 'sub']:
    s = os.lstat(os.path.join(m, n))
    print(n, oct(s.st_mode), s.st_size, s.st_nlink, s.st_uid, s.st_gid)
print('root', oct(os.stat(m).st_mode))
`,
    mnt,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), [
    'value 0o100644 4096 1 0 0',
    'ro 0o100444 4096 1 0 0',
    'wo 0o100200 4096 1 0 0',
    'devices 0o40755 0 2 0 0',
    'devlink 0o120777 7 1 0 0',
    'sub/up 0o120777 8 1 0 0',
    'sub 0o40755 0 2 0 0',
    'root 0o40755',
  ]);
  // A directory has 2 links plus one per subdirectory, as on sysfs: the root has `devices` and `sub`.
  assert.equal((await sh('stat -c %h "$0"', mnt)).stdout.trim(), '4');
  const lsl = await sh('ls -l "$0" | tail -n +2 | wc -l', mnt); // READDIRPLUS path (ls -l stats every entry)
  assert.equal(lsl.stdout.trim(), '12');
});

test('reads render the value; writes store it and return the full count', async (t) => {
  const { mnt } = await serve(t, toyTree());
  assert.equal((await sh('cat "$0/value"', mnt)).stdout, 'initial\n');
  const w = await py(PRELUDE + `fd = os.open(m + '/value', os.O_WRONLY)\nattempt(lambda: os.write(fd, b'hello world\\n'))\nos.close(fd)`, mnt);
  assert.equal(w.stdout.trim(), 'ok 12');
  assert.equal((await sh('cat "$0/value"', mnt)).stdout, 'hello world\n');
  assert.equal((await sh('echo 42 > "$0/value" && cat "$0/value"', mnt)).stdout, '42\n'); // O_TRUNC open
  const big = await sh('cat "$0/big" | wc -c', mnt); // several READs at growing offsets end at the value's end
  assert.equal(big.stdout.trim(), '10000');
  assert.equal((await sh('cat "$0/slow"', mnt)).stdout, 'slow value\n');
  assert.equal((await sh('echo yes > "$0/slow"', mnt)).code, 0);
});

test('store errors reach write() with their errno; bugs become EIO', async (t) => {
  const { mnt, logs } = await serve(t, toyTree());
  const r = await py(
    PRELUDE +
      `
def write(name, data):
    fd = os.open(os.path.join(m, name), os.O_WRONLY)
    try:
        return os.write(fd, data)
    finally:
        os.close(fd)
attempt(lambda: write('invalid', b'x'))
attempt(lambda: write('exists', b'x'))
attempt(lambda: write('slow', b'no\\n'))
attempt(lambda: open(os.path.join(m, 'bug')).read())
`,
    mnt,
  );
  assert.deepEqual(r.stdout.trim().split('\n'), ['EINVAL', 'EEXIST', 'ENOSPC', 'EIO']);
  assert.ok(logs.some((l) => l.includes('a bug in show') && l.includes('TypeError')), logs.join('\n'));
});

test('modes are capabilities, even for root; nothing can be created (EACCES), made, removed or renamed (EPERM)', async (t) => {
  const { mnt } = await serve(t, toyTree());
  const r = await py(
    PRELUDE +
      `
attempt(lambda: os.open(m + '/ro', os.O_WRONLY))
attempt(lambda: os.open(m + '/ro', os.O_RDWR))
attempt(lambda: os.open(m + '/wo', os.O_RDONLY))
attempt(lambda: os.open(m + '/new', os.O_WRONLY | os.O_CREAT, 0o644))
attempt(lambda: os.mkdir(m + '/newdir'))
attempt(lambda: os.unlink(m + '/value'))
attempt(lambda: os.rmdir(m + '/devices'))
attempt(lambda: os.rename(m + '/value', m + '/other'))
attempt(lambda: os.symlink('value', m + '/l2'))
attempt(lambda: os.chmod(m + '/value', 0o600))
attempt(lambda: os.truncate(m + '/value', 0))
attempt(lambda: os.truncate(m + '/ro', 0))
attempt(lambda: os.access(m + '/ro', os.W_OK))
attempt(lambda: os.access(m + '/ro', os.R_OK))
attempt(lambda: os.statvfs(m).f_bsize)
`,
    mnt,
  );
  assert.deepEqual(r.stdout.trim().split('\n'), [
    'EACCES',
    'EACCES',
    'EACCES',
    'EACCES',
    'EPERM',
    'EPERM',
    'EPERM',
    'EPERM',
    'EPERM',
    'ok None',
    'ok None',
    'EACCES',
    'ok False',
    'ok True',
    'ok 4096',
  ]);
  assert.equal((await sh('echo x > "$0/new"', mnt)).code !== 0, true);
});

test('chmod and chown stick (as on sysfs) but cannot add a capability; a non-owner may not chmod', async (t) => {
  const { mnt } = await serve(t, toyTree());
  const r = await py(
    PRELUDE +
      `
os.chmod(m + '/value', 0o600)
os.chmod(m + '/ro', 0o644)
os.chown(m + '/value', 12, 34)
for n in ['value', 'ro']:
    s = os.stat(m + '/' + n)
    print(n, oct(s.st_mode), s.st_uid, s.st_gid)
os.chmod(m + '/value', 0o200)
attempt(lambda: open(m + '/value').read())
attempt(lambda: os.open(m + '/ro', os.O_WRONLY))
os.chmod(m + '/value', 0o644)
print(open(m + '/value').read().strip())
os.setuid(99)
attempt(lambda: os.chmod(m + '/ro', 0o444))
`,
    mnt,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['value 0o100600 12 34', 'ro 0o100644 0 0', 'EACCES', 'EACCES', 'initial', 'EPERM']);
});

test('symlinks: readlink gives the relative target and the kernel follows it', async (t) => {
  const { mnt } = await serve(t, toyTree());
  const r = await sh('readlink "$0/sub/up"; cat "$0/sub/up"; readlink "$0/devlink"; ls "$0/devlink/"', mnt);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '../value\ninitial\ndevices\n');
});

test('symlinks: the kernel caches targets, yet a link removed or re-pointed is seen at once', async (t) => {
  const tree = toyTree();
  const { server, mnt } = await serve(t, tree);
  const readTwice = 'readlink "$0/devlink" && readlink "$0/devlink" && ls "$0/devlink/" | wc -l';
  assert.equal((await sh(readTwice, mnt)).stdout, 'devices\ndevices\n0\n');
  // Re-pointed as the sysfs tree does it: the old link is removed (reported), a new one made.
  tree.remove('devlink').link('devlink', 'sub');
  await server.settled();
  assert.equal((await sh(readTwice, mnt)).stdout, 'sub\nsub\n1\n', 'the new target at once');
  tree.remove('devlink');
  await server.settled();
  const gone = await sh('readlink "$0/devlink" || echo gone; test -e "$0/devlink" || echo absent', mnt);
  assert.equal(gone.stdout, 'gone\nabsent\n');
  tree.link('devlink', 'devices');
  assert.equal((await sh('readlink "$0/devlink"', mnt)).stdout, 'devices\n', 'made again: reachable at once');
});

test('symlinks: a link a tree re-points without reporting it is read anew once its entry expires', async (t) => {
  const tree = toyTree();
  const { mnt } = await serve(t, tree);
  assert.equal((await sh('readlink "$0/devlink"', mnt)).stdout, 'devices\n');
  tree.retarget('devlink', 'sub');
  // The entry timeout is 1 s; a kernel that kept the old target cached under the same node id would print `devices`.
  await sleep(1500);
  assert.equal((await sh('readlink "$0/devlink"', mnt)).stdout, 'sub\n');
});

test('entries appear and disappear at once (no stale dentries), through writes as mdevctl does them', async (t) => {
  const { server, mnt } = await serve(t, toyTree());
  // Looked up (negative) first, then created, then looked up again: the create must be seen at once.
  const r = await sh(
    `cd "$0"
     test -e devices/u1 && echo early
     echo u1 > create && cat devices/u1/name && ls devices
     echo u1 > create 2>/dev/null || echo dup-refused
     cd devices/u1 && echo 1 > remove; cd "$0"
     test -e devices/u1 || echo gone
     ls devices | wc -l
     echo u1 > create && cat devlink/u1/name`,
    mnt,
  );
  assert.equal(r.stdout, 'u1\nu1\ndup-refused\ngone\n0\nu1\n', r.stderr);
  // A shell that sat in a removed directory sees ENOENT for its contents afterwards.
  const stale = await py(
    PRELUDE +
      `
os.chdir(m + '/devices/u1')
fd = os.open('remove', os.O_WRONLY)
os.write(fd, b'1')
attempt(lambda: os.stat('name'))
attempt(lambda: os.write(fd, b'1'))
os.close(fd)
attempt(lambda: os.stat(m + '/devices/u1'))
`,
    mnt,
  );
  assert.deepEqual(stale.stdout.trim().split('\n'), ['ENOENT', 'ENODEV', 'ENOENT']);
  // RELEASEs for the closed files arrive asynchronously.
  await waitFor('every handle to be released', () => server.stats.handles === 0);
});

test('concurrent clients and concurrent tree changes: every request answered, nothing logged as a bug', async (t) => {
  const tree = toyTree();
  const { server, mnt, logs } = await serve(t, tree);
  let churn = true;
  const changes = (async () => {
    for (let i = 0; churn; i++) {
      tree.dir(`devices/d${i}`).file(`devices/d${i}/v`, 0o444, () => `${i}\n`);
      await sleep(2);
      tree.remove(`devices/d${i}`);
    }
  })();
  const clients = Array.from({ length: 4 }, (_, k) =>
    sh(
      `i=0; while [ $i -lt 80 ]; do
         echo ${k}$i > "$0/value" || exit 1
         cat "$0/value" >/dev/null || exit 2
         cat "$0/slow" >/dev/null || exit 3
         ls -l "$0/devices" >/dev/null 2>&1
         cat "$0"/devices/*/v >/dev/null 2>&1
         i=$((i+1))
       done; echo done`,
      mnt,
    ),
  );
  const results = await Promise.all(clients);
  churn = false;
  await changes;
  for (const r of results) assert.equal(r.stdout.trim(), 'done', r.stderr);
  assert.deepEqual(logs, []);
  await waitFor('every open handle to be released', () => server.stats.handles === 0);
});
