/**
 * The C programs of the blk bench, compiled in the run with the machine's `cc`:
 *
 * - `blkclient SOCKET QD ITERS [BYTES]`: a virtio-blk driver speaking vfio-user to an mvblk device, as a VMM with a guest
 *   driver would, minus the guest: guest RAM is a sealed memfd it maps to the device (DMA_MAP), it sets up one queue
 *   of 256 entries with an MSI-X eventfd, and submits reads of BYTES (4 KiB by default, in one buffer) at random sectors of the first 64 MiB, kicking
 *   with a posted REGION_WRITE (NO_REPLY, as QEMU sends a guest's notify) and waiting on the eventfd. With QD 1 it
 *   prints the median and p99 request time (ns); with a deeper queue it keeps QD requests in flight and prints the
 *   mean time per request (ns) and the requests per second.
 * - `guestio MODE DEV ARG`: a static program for the guest: `seqread DEV MIB` and `seqwrite DEV MIB` move MIB MiB in
 *   1 MiB O_DIRECT requests and print MB/s; `randread DEV MS` reads 4 KiB at random 4 KiB-aligned offsets of the
 *   first 64 MiB with O_DIRECT for MS milliseconds and prints reads per second.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const BLKCLIENT = String.raw`
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/eventfd.h>
#include <poll.h>

static int sock;
static uint16_t next_id = 1;

static void xfer(int fd, void *buf, size_t n, int wr) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = wr ? write(fd, (char *)buf + done, n - done) : read(fd, (char *)buf + done, n - done);
    if (r <= 0) { perror(wr ? "write" : "read"); exit(1); }
    done += (size_t)r;
  }
}
/* One message (header + body) in one sendmsg with fds; then its reply unless flags has NO_REPLY. */
static void msg(uint16_t cmd, const void *body, uint32_t len, const int *fds, int nfds, uint32_t flags) {
  uint8_t buf[256];
  uint32_t size = 16 + len, zero = 0;
  uint16_t id = next_id++;
  memcpy(buf, &id, 2); memcpy(buf + 2, &cmd, 2); memcpy(buf + 4, &size, 4); memcpy(buf + 8, &flags, 4); memcpy(buf + 12, &zero, 4);
  memcpy(buf + 16, body, len);
  struct iovec iov = { buf, size };
  char ctl[CMSG_SPACE(sizeof(int) * 8)];
  struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
  if (nfds > 0) {
    mh.msg_control = ctl; mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET; c->cmsg_type = SCM_RIGHTS; c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  if (sendmsg(sock, &mh, 0) != (ssize_t)size) { perror("sendmsg"); exit(1); }
  if (flags & 0x10) return;
  uint8_t rep[4096];
  xfer(sock, rep, 16, 0);
  uint32_t rsize, rflags; memcpy(&rsize, rep + 4, 4); memcpy(&rflags, rep + 8, 4);
  if (rsize < 16 || rsize > sizeof(rep)) { fprintf(stderr, "bad reply size %u\n", rsize); exit(1); }
  xfer(sock, rep + 16, rsize - 16, 0);
  if (rflags & 0x20) { uint32_t e; memcpy(&e, rep + 12, 4); fprintf(stderr, "command %u failed: errno %u\n", cmd, e); exit(1); }
}
static void reg(uint64_t off, uint64_t v, uint32_t n, uint32_t flags) {
  uint8_t b[24]; uint32_t region = 0;
  memcpy(b, &off, 8); memcpy(b + 8, &region, 4); memcpy(b + 12, &n, 4); memcpy(b + 16, &v, 8);
  msg(10, b, 16 + n, NULL, 0, flags);
}
static uint64_t now_ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec; }
static int cmp(const void *a, const void *b) { uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b; return x < y ? -1 : x > y; }
/* Wait for the queue's interrupt; the eventfd may have been made non-blocking by the server, so poll first. */
static void wait_irq(int fd) {
  struct pollfd p = { fd, POLLIN, 0 };
  uint64_t c;
  for (;;) {
    if (poll(&p, 1, 10000) <= 0) { fprintf(stderr, "no interrupt within 10 s\n"); exit(1); }
    if (read(fd, &c, 8) == 8) return;
  }
}

#define RAM (64u << 20)
#define IOVA 0x100000000ull
#define QSIZE 256
static uint8_t *ram;
static uint16_t avail_idx, last_used;
static uint32_t seed = 12345;
static uint32_t bytes = 4096;
static uint32_t rnd(void) { seed = seed * 1103515245u + 12345u; return seed >> 8; }

static void submit(int s) {
  uint8_t *hdr = ram + 0x10000 + s * 0x100;
  uint32_t type = 0, zero = 0; uint64_t sector = (uint64_t)(rnd() % ((64u << 20) / bytes)) * (bytes / 512);
  memcpy(hdr, &type, 4); memcpy(hdr + 4, &zero, 4); memcpy(hdr + 8, &sector, 8); hdr[16] = 0xff;
  struct { uint64_t a; uint32_t l; uint16_t f, n; } *d = (void *)ram;
  int h = 3 * s;
  d[h] = (typeof(*d)){ IOVA + 0x10000 + s * 0x100, 16, 1, (uint16_t)(h + 1) };
  d[h + 1] = (typeof(*d)){ IOVA + 0x100000 + (uint64_t)s * bytes, bytes, 3, (uint16_t)(h + 2) };
  d[h + 2] = (typeof(*d)){ IOVA + 0x10000 + s * 0x100 + 16, 1, 2, 0 };
  uint16_t *avail = (uint16_t *)(ram + 0x1000);
  avail[2 + avail_idx % QSIZE] = (uint16_t)h;
  __atomic_store_n(&avail[1], (uint16_t)(avail_idx + 1), __ATOMIC_RELEASE);
  avail_idx++;
}
static void kick(void) { reg(0x3000, 0, 2, 0x10); }

int main(int argc, char **argv) {
  if (argc < 4) return 2;
  int qd = atoi(argv[2]), iters = atoi(argv[3]);
  if (argc > 4) bytes = (uint32_t)atoi(argv[4]);
  if (bytes < 512 || bytes > (1u << 20) || bytes % 512) return 2;
  if (qd < 1 || qd > 80) return 2;
  sock = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  strncpy(sa.sun_path, argv[1], sizeof(sa.sun_path) - 1);
  if (connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) { perror("connect"); return 1; }
  uint8_t v[4] = { 0 };
  msg(1, v, 4, NULL, 0, 0);
  int mfd = memfd_create("blk-ram", MFD_ALLOW_SEALING | MFD_CLOEXEC);
  if (ftruncate(mfd, RAM) < 0) { perror("ftruncate"); return 1; }
  fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
  ram = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
  if (ram == MAP_FAILED) { perror("mmap"); return 1; }
  uint8_t map[32] = { 0 }; uint32_t argsz = 32, mflags = 3; uint64_t iova = IOVA, size = RAM;
  memcpy(map, &argsz, 4); memcpy(map + 4, &mflags, 4); memcpy(map + 16, &iova, 8); memcpy(map + 24, &size, 8);
  msg(2, map, 32, &mfd, 1, 0);
  reg(0x14, 0, 1, 0); reg(0x14, 3, 1, 0);
  reg(0x08, 1, 4, 0); reg(0x0c, 1, 4, 0); /* VERSION_1 */
  reg(0x14, 0xb, 1, 0);
  int efd[2] = { eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC) };
  uint8_t set[20]; uint32_t f[5] = { 20, (1u << 2) | (1u << 5), 2, 0, 2 };
  memcpy(set, f, 20);
  msg(8, set, 20, efd, 2, 0);
  reg(0x10, 0, 2, 0);
  reg(0x16, 0, 2, 0); reg(0x18, QSIZE, 2, 0); reg(0x1a, 1, 2, 0);
  reg(0x20, (IOVA) & 0xffffffff, 4, 0); reg(0x24, IOVA >> 32, 4, 0);
  reg(0x28, (IOVA + 0x1000) & 0xffffffff, 4, 0); reg(0x2c, (IOVA + 0x1000) >> 32, 4, 0);
  reg(0x30, (IOVA + 0x2000) & 0xffffffff, 4, 0); reg(0x34, (IOVA + 0x2000) >> 32, 4, 0);
  reg(0x1c, 1, 2, 0);
  reg(0x14, 0xf, 1, 0);
  volatile uint16_t *used_idx = (uint16_t *)(ram + 0x2002);
  uint32_t *used = (uint32_t *)(ram + 0x2004);
  uint64_t *ns = calloc((size_t)iters, sizeof(uint64_t));
  int warm = iters / 10 + 1, inflight = 0, done = 0;
  uint64_t t0 = 0, start = 0;
  if (qd == 1) {
    for (int i = 0; i < warm + iters; i++) {
      uint64_t a = now_ns();
      submit(0); kick();
      while (__atomic_load_n(used_idx, __ATOMIC_ACQUIRE) == last_used) wait_irq(efd[1]);
      uint32_t id = used[2 * (last_used % QSIZE)];
      last_used++;
      if (id != 0 || ram[0x10010] != 0) { fprintf(stderr, "request failed: head %u status %u\n", id, ram[0x10010]); return 1; }
      if (i >= warm) ns[i - warm] = now_ns() - a;
    }
    qsort(ns, (size_t)iters, sizeof(uint64_t), cmp);
    printf("%llu %llu\n", (unsigned long long)ns[iters / 2], (unsigned long long)ns[iters * 99 / 100]);
    return 0;
  }
  for (int s = 0; s < qd; s++) submit(s);
  inflight = qd; kick();
  while (done < warm + iters) {
    if (__atomic_load_n(used_idx, __ATOMIC_ACQUIRE) == last_used) wait_irq(efd[1]);
    int again = 0;
    while (last_used != __atomic_load_n(used_idx, __ATOMIC_ACQUIRE)) {
      uint32_t head = used[2 * (last_used % QSIZE)];
      last_used++; done++; inflight--;
      if (ram[0x10000 + (head / 3) * 0x100 + 16] != 0) { fprintf(stderr, "request failed\n"); return 1; }
      if (done == warm) { start = now_ns(); t0 = done; }
      if (done + inflight < warm + iters) { submit((int)(head / 3)); inflight++; again = 1; }
    }
    if (again) kick();
  }
  double secs = (double)(now_ns() - start) / 1e9, n = (double)(done - t0);
  printf("%llu %llu\n", (unsigned long long)(secs * 1e9 / n), (unsigned long long)(n / secs));
  return 0;
}
`;

const GUESTIO = String.raw`
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char **argv) {
  if (argc < 4) return 2;
  const char *mode = argv[1];
  long arg = atol(argv[3]);
  int wr = strcmp(mode, "seqwrite") == 0;
  int fd = open(argv[2], (wr ? O_WRONLY : O_RDONLY) | O_DIRECT);
  if (fd < 0) { perror("open"); return 1; }
  void *buf;
  if (posix_memalign(&buf, 4096, 1 << 20)) return 1;
  memset(buf, 0x5a, 1 << 20);
  double t0 = now();
  if (strcmp(mode, "randread") == 0) {
    uint32_t seed = 777; long n = 0;
    while ((now() - t0) * 1000 < arg) {
      seed = seed * 1103515245u + 12345u;
      off_t at = (off_t)((seed >> 8) % (64u << 20 >> 12)) * 4096;
      if (pread(fd, buf, 4096, at) != 4096) { perror("pread"); return 1; }
      n++;
    }
    printf("%.0f\n", n / (now() - t0));
    return 0;
  }
  for (long i = 0; i < arg; i++) {
    ssize_t r = wr ? pwrite(fd, buf, 1 << 20, (off_t)i << 20) : pread(fd, buf, 1 << 20, (off_t)i << 20);
    if (r != 1 << 20) { perror(wr ? "pwrite" : "pread"); return 1; }
  }
  if (wr) fdatasync(fd);
  printf("%.1f\n", arg * 1.048576 / (now() - t0));
  return 0;
}
`;

export interface BlkPeers {
  readonly client: string;
  readonly guestio: string;
}

/** Compile the blk bench's C programs into `dir` (`guestio` statically, for the guest); fails saying what to install. */
export function compileBlkPeers(dir: string): BlkPeers {
  const build = (name: string, body: string, flags: readonly string[]): string => {
    const src = join(dir, `${name}.c`);
    const out = join(dir, name);
    writeFileSync(src, body);
    try {
      execFileSync('cc', ['-O2', ...flags, '-o', out, src], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      throw new Error(`compiling the C ${name} failed (install gcc and libc6-dev): ${(e as Error).message}`);
    }
    return out;
  };
  return { client: build('blkclient', BLKCLIENT, []), guestio: build('guestio', GUESTIO, ['-static']) };
}
