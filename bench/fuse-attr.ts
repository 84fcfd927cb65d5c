/**
 * `npm run bench -- fuse-attr [N=3000] [ROUNDS=5] [CHUNK=100]`: the cost of one sysfs-style attribute access through
 * umdev's FUSE server against a minimal C libfuse3 low-level filesystem serving the same single read-write attribute
 * (direct I/O, single-threaded session loop, and umdev's timeouts: names cached 1 s, attributes never). A C client (a separate process) times N ×
 * open(O_WRONLY|O_TRUNC) + write("1\n") + close and N × open(O_RDONLY) + read + close on each mount, taking turns
 * CHUNK operations at a time so both see the same load; the medians of the round medians are compared. Both C
 * programs are compiled at bench time into a temp dir.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { AttrDir, AttrFile, AttrTree } from '../src/fuse/attr-tree.js';
import { FuseServer } from '../src/fuse/server.js';
import { defaultConfig } from '../src/daemon/config.js';

const run = promisify(execFile);

/** The C baseline: one file `attr` (0644) at the root, served with libfuse3's low-level API. */
const C_FS = String.raw`
#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>

static char value[4096] = "0\n";
static size_t value_len = 2;

static void fill(fuse_ino_t ino, struct stat *st) {
  memset(st, 0, sizeof *st);
  st->st_ino = ino;
  if (ino == FUSE_ROOT_ID) { st->st_mode = S_IFDIR | 0755; st->st_nlink = 2; }
  else { st->st_mode = S_IFREG | 0644; st->st_nlink = 1; st->st_size = 4096; }
}
static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  if (parent != FUSE_ROOT_ID || strcmp(name, "attr") != 0) { fuse_reply_err(req, ENOENT); return; }
  struct fuse_entry_param e; memset(&e, 0, sizeof e);
  e.ino = 2; fill(2, &e.attr);
  e.entry_timeout = 1.0; /* as umdev: an existing name is cached for a second, its attributes not at all */
  fuse_reply_entry(req, &e);
}
static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void)fi; struct stat st; fill(ino, &st); fuse_reply_attr(req, &st, 0);
}
static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi) {
  (void)attr; (void)to_set; (void)fi; struct stat st; fill(ino, &st); fuse_reply_attr(req, &st, 0);
}
static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  if (ino != 2) { fuse_reply_err(req, EISDIR); return; }
  fi->direct_io = 1; fuse_reply_open(req, fi);
}
static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  (void)ino; (void)fi;
  if ((size_t)off >= value_len) { fuse_reply_buf(req, NULL, 0); return; }
  size_t n = value_len - off < size ? value_len - off : size;
  fuse_reply_buf(req, value + off, n);
}
static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  (void)ino; (void)off; (void)fi;
  if (size > sizeof value) { fuse_reply_err(req, EINVAL); return; }
  memcpy(value, buf, size); value_len = size; fuse_reply_write(req, size);
}
static void op_init(void *u, struct fuse_conn_info *c) { (void)u; c->want |= FUSE_CAP_ATOMIC_O_TRUNC; }
static const struct fuse_lowlevel_ops ops = {
  .init = op_init, .lookup = op_lookup, .getattr = op_getattr, .setattr = op_setattr,
  .open = op_open, .read = op_read, .write = op_write,
};
int main(int argc, char **argv) {
  if (argc != 2) { fprintf(stderr, "usage: cfs MOUNTPOINT\n"); return 2; }
  char *args_v[] = { "cfs", "-o", "fsname=umdevbenchc,allow_other" };
  struct fuse_args args = FUSE_ARGS_INIT(3, args_v);
  struct fuse_session *se = fuse_session_new(&args, &ops, sizeof ops, NULL);
  if (!se || fuse_set_signal_handlers(se) != 0 || fuse_session_mount(se, argv[1]) != 0) return 1;
  int rc = fuse_session_loop(se);
  fuse_session_unmount(se);
  fuse_remove_signal_handlers(se);
  fuse_session_destroy(se);
  return rc ? 1 : 0;
}
`;

/**
 * The client: `client A B N CHUNK` times N × (open O_WRONLY|O_TRUNC, write "1\n", close) on each of the files A and
 * B, taking turns CHUNK operations at a time so both see the same machine load, then the same for reads; prints the
 * median µs per operation: "<A write> <A read> <B write> <B read>".
 */
const C_CLIENT = String.raw`
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e6 + t.tv_nsec / 1e3; }
static void op(const char *p, int wr) {
  char buf[4096];
  int fd = open(p, wr ? O_WRONLY | O_TRUNC : O_RDONLY);
  if (fd < 0 || (wr ? write(fd, "1\n", 2) != 2 : read(fd, buf, sizeof buf) <= 0)) { perror(p); exit(1); }
  close(fd);
}
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }
static double median(double *xs, int n) { qsort(xs, (size_t)n, sizeof *xs, cmp); return xs[n / 2]; }
int main(int argc, char **argv) {
  if (argc != 5) return 2;
  int n = atoi(argv[3]), chunk = atoi(argv[4]);
  if (n < 1 || chunk < 1) return 2;
  double *t[2] = { calloc((size_t)n, sizeof(double)), calloc((size_t)n, sizeof(double)) }, out[2][2];
  for (int wr = 1; wr >= 0; wr--) {
    for (int f = 0; f < 2; f++) for (int i = 0; i < n / 10 + 1; i++) op(argv[1 + f], wr);
    for (int done = 0; done < n; done += chunk)
      for (int f = 0; f < 2; f++)
        for (int i = done; i < done + chunk && i < n; i++) { double t0 = now(); op(argv[1 + f], wr); t[f][i] = now() - t0; }
    for (int f = 0; f < 2; f++) out[f][wr ? 0 : 1] = median(t[f], n);
  }
  printf("%.2f %.2f %.2f %.2f\n", out[0][0], out[0][1], out[1][0], out[1][1]);
  return 0;
}
`;

/** umdev's side: the same single attribute, with synchronous show and store. */
function attrTree(): AttrTree {
  let value: Buffer = Buffer.from('0\n');
  const root: AttrDir = { kind: 'dir', mode: 0o755, entries: () => [{ name: 'attr', kind: 'file' }] };
  const attr: AttrFile = { kind: 'file', mode: 0o644, show: () => value, store: (d) => void (value = d) };
  return { resolve: (p) => (p.length === 0 ? root : p.length === 1 && p[0] === 'attr' ? attr : undefined) };
}

async function mounted(mnt: string): Promise<boolean> {
  return (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').some((l) => l.split(' ')[4] === mnt);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** One round: [umdev write, umdev read, C write, C read] in µs per operation. */
async function client(bin: string, umdev: string, c: string, n: number, chunk: number): Promise<number[]> {
  const { stdout } = await run(bin, [umdev, c, String(n), String(chunk)], { timeout: 300_000 });
  const xs = stdout.trim().split(' ').map(Number);
  if (xs.length !== 4 || !xs.every(Number.isFinite)) throw new Error(`bad client output: ${stdout}`);
  return xs;
}

export async function main(argv: string[]): Promise<void> {
  const n = Number(argv[0] ?? 3000);
  const rounds = Number(argv[1] ?? 5);
  const chunk = Number(argv[2] ?? 100);
  const dir = await mkdtemp(join(tmpdir(), 'umdev-bench-fuse-'));
  const umnt = join(dir, 'umdev');
  const cmnt = join(dir, 'c');
  let server: FuseServer | undefined;
  let cfs: ChildProcess | undefined;
  try {
    await mkdir(umnt);
    await mkdir(cmnt);
    await writeFile(join(dir, 'cfs.c'), C_FS);
    await writeFile(join(dir, 'client.c'), C_CLIENT);
    const flags = (await run('pkg-config', ['--cflags', '--libs', 'fuse3'])).stdout.trim().split(/\s+/);
    await run('cc', ['-O2', '-o', join(dir, 'cfs'), join(dir, 'cfs.c'), ...flags]);
    await run('cc', ['-O2', '-o', join(dir, 'client'), join(dir, 'client.c')]);

    // As umdevd serves its tree: with the shipped busy-poll window.
    server = await FuseServer.start({ tree: attrTree(), mountpoint: umnt, name: 'umdevbench', busyPollNs: defaultConfig('.').busyPollUs * 1000 });
    cfs = spawn(join(dir, 'cfs'), [cmnt], { stdio: ['ignore', 'inherit', 'inherit'] });
    for (let i = 0; !(await mounted(cmnt)); i++) {
      if (i > 100 || cfs.exitCode !== null) throw new Error('the C libfuse3 filesystem did not mount');
      await sleep(50);
    }

    const got: number[][] = [];
    for (let r = 0; r < rounds; r++) {
      const [uw, ur, cw, cr] = (got[r] = await client(join(dir, 'client'), join(umnt, 'attr'), join(cmnt, 'attr'), n, chunk));
      console.log(`round ${r + 1}: umdev write ${uw} read ${ur} µs/op; C libfuse3 write ${cw} read ${cr} µs/op`);
    }
    const res = {
      write_us: median(got.map((x) => x[0]!)),
      c_write_us: median(got.map((x) => x[2]!)),
      read_us: median(got.map((x) => x[1]!)),
      c_read_us: median(got.map((x) => x[3]!)),
    };
    const ratio = Math.max(res.write_us / res.c_write_us, res.read_us / res.c_read_us);
    console.log(JSON.stringify({ bench: 'fuse-attr', unit: 'us/op', ...res, ratio: Math.round(ratio * 100) / 100, better: 'lower', n, rounds, chunk, c_threads: 'single' }));
  } finally {
    if (cfs && cfs.exitCode === null) {
      const exited = new Promise((resolve) => cfs!.once('exit', resolve));
      cfs.kill('SIGTERM');
      await Promise.race([exited, sleep(3000)]);
      if (cfs.exitCode === null) cfs.kill('SIGKILL');
    }
    if (await mounted(cmnt)) await run('umount', ['-i', '-c', '-l', cmnt]).catch(() => undefined);
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  }
}
