/**
 * The C peers benches measure against, compiled in the run with the machine's `cc`: a vfio-user client that times
 * REGION_READ round trips, a flooder that keeps a pipeline of reads in flight, and a client that sends and never
 * reads its replies.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const COMMON = String.raw`
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

static void xfer(int fd, void *buf, size_t n, int wr) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = wr ? write(fd, (char *)buf + done, n - done) : read(fd, (char *)buf + done, n - done);
    if (r <= 0) { perror(wr ? "write" : "read"); exit(1); }
    done += (size_t)r;
  }
}
static void header(uint8_t *h, uint16_t id, uint16_t cmd, uint32_t size) {
  uint32_t zero = 0;
  memcpy(h, &id, 2); memcpy(h + 2, &cmd, 2); memcpy(h + 4, &size, 4); memcpy(h + 8, &zero, 4); memcpy(h + 12, &zero, 4);
}
/* Connect and negotiate VERSION 0.0 without JSON. */
static int open_session(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  strncpy(sa.sun_path, path, sizeof(sa.sun_path) - 1);
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) { perror("connect"); exit(1); }
  uint8_t msg[20], rep[4096];
  header(msg, 1, 1, 20);
  memset(msg + 16, 0, 4);
  xfer(fd, msg, 20, 1);
  xfer(fd, rep, 16, 0);
  uint32_t size; memcpy(&size, rep + 4, 4);
  if (size < 16 || size > sizeof(rep)) { fprintf(stderr, "bad VERSION reply\n"); exit(1); }
  xfer(fd, rep + 16, size - 16, 0);
  return fd;
}
/* One REGION_READ request of count bytes at offset of region. */
static void region_read(uint8_t *msg, uint16_t id, uint32_t region, uint64_t off, uint32_t count) {
  header(msg, id, 9, 32);
  memcpy(msg + 16, &off, 8); memcpy(msg + 24, &region, 4); memcpy(msg + 28, &count, 4);
}
`;

/** `client SOCKET ITERATIONS [REGION OFFSET COUNT]`: prints the median and p99 round trip in ns. */
const CLIENT = String.raw`
static int cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}
int main(int argc, char **argv) {
  if (argc < 3) return 2;
  int iters = atoi(argv[2]), warm = iters / 10;
  uint32_t region = argc > 3 ? (uint32_t)atoi(argv[3]) : 0, count = argc > 5 ? (uint32_t)atoi(argv[5]) : 4;
  uint64_t off = argc > 4 ? (uint64_t)atoll(argv[4]) : 0;
  int fd = open_session(argv[1]);
  uint8_t msg[64], rep[4096];
  uint64_t *ns = calloc((size_t)iters, sizeof(uint64_t));
  for (int i = 0; i < warm + iters; i++) {
    region_read(msg, (uint16_t)i, region, off, count);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    xfer(fd, msg, 32, 1);
    xfer(fd, rep, 16, 0);
    uint32_t size, flags; memcpy(&size, rep + 4, 4); memcpy(&flags, rep + 8, 4);
    if (size != 32 + count || flags != 1) { fprintf(stderr, "bad REGION_READ reply size %u flags %#x\n", size, flags); return 1; }
    xfer(fd, rep + 16, size - 16, 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (i >= warm) ns[i - warm] = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000ull + (uint64_t)(t1.tv_nsec - t0.tv_nsec);
  }
  qsort(ns, (size_t)iters, sizeof(uint64_t), cmp);
  printf("%llu %llu\n", (unsigned long long)ns[iters / 2], (unsigned long long)ns[(size_t)iters * 99 / 100]);
  return 0;
}
`;

/** `flood SOCKET REGION OFFSET COUNT`: 64 reads in flight at all times, until killed. */
const FLOOD = String.raw`
int main(int argc, char **argv) {
  if (argc < 5) return 2;
  int fd = open_session(argv[1]);
  uint32_t region = (uint32_t)atoi(argv[2]), count = (uint32_t)atoi(argv[4]);
  uint64_t off = (uint64_t)atoll(argv[3]);
  static uint8_t batch[64 * 32], rep[1 << 16];
  for (int i = 0; i < 64; i++) region_read(batch + 32 * i, (uint16_t)i, region, off, count);
  for (;;) {
    xfer(fd, batch, sizeof(batch), 1);
    for (int i = 0; i < 64; i++) {
      xfer(fd, rep, 16, 0);
      uint32_t size; memcpy(&size, rep + 4, 4);
      if (size < 16 || size > sizeof(rep)) return 1;
      xfer(fd, rep + 16, size - 16, 0);
    }
  }
}
`;

/** `deaf SOCKET`: sends reads as fast as the socket takes them and never reads a reply, until killed. */
const DEAF = String.raw`
int main(int argc, char **argv) {
  if (argc < 2) return 2;
  int fd = open_session(argv[1]);
  static uint8_t batch[256 * 32];
  for (int i = 0; i < 256; i++) region_read(batch + 32 * i, (uint16_t)i, 7, 0, 4);
  for (;;) xfer(fd, batch, sizeof(batch), 1);
}
`;

export interface CPeers {
  readonly client: string;
  readonly flood: string;
  readonly deaf: string;
}

/** Compile the peers into `dir`; fails with what to install when there is no C compiler. */
export function compilePeers(dir: string): CPeers {
  const out = { client: join(dir, 'client'), flood: join(dir, 'flood'), deaf: join(dir, 'deaf') };
  for (const [name, body] of [['client', CLIENT], ['flood', FLOOD], ['deaf', DEAF]] as const) {
    const src = join(dir, `${name}.c`);
    writeFileSync(src, COMMON + body);
    try {
      execFileSync('cc', ['-O2', '-o', out[name], src]);
    } catch (e) {
      throw new Error(`compiling the C ${name} failed (install gcc): ${(e as Error).message}`);
    }
  }
  return out;
}
