/**
 * The C peers benches measure against, compiled in the run with the machine's `cc`: a vfio-user client that times
 * REGION_READ round trips (on one socket, taking turns on several, or on many at once from threads), a flooder that keeps a pipeline of reads in flight, a client that sends and never
 * reads its replies, and an AF_UNIX echo server that answers each request with a reply of the size a vfio-user
 * server would send (the floor of two processes talking over a socket).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
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

/**
 * `compare ITERATIONS CHUNK TARGET...`, each TARGET `SOCKET:REGION:OFFSET:COUNT`: times REGION_READ round trips on
 * every target, taking turns CHUNK requests at a time so all targets see the same machine load, and prints one
 * `median p99` line (ns) per target. Targets on the same socket share one connection (a device takes one client).
 */
const COMPARE = String.raw`
static int cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}
int main(int argc, char **argv) {
  if (argc < 4) return 2;
  int iters = atoi(argv[1]), chunk = atoi(argv[2]), n = argc - 3;
  if (iters < 1 || chunk < 1 || n > 64) return 2;
  int fd[64]; uint32_t region[64], count[64]; uint64_t off[64]; uint64_t *ns[64];
  for (int t = 0; t < n; t++) {
    char *spec = argv[3 + t], *c = strrchr(spec, ':'); if (!c) return 2; count[t] = (uint32_t)atoi(c + 1); *c = 0;
    c = strrchr(spec, ':'); if (!c) return 2; off[t] = (uint64_t)atoll(c + 1); *c = 0;
    c = strrchr(spec, ':'); if (!c) return 2; region[t] = (uint32_t)atoi(c + 1); *c = 0;
    fd[t] = -1;
    for (int u = 0; u < t; u++) if (strcmp(argv[3 + u], spec) == 0) fd[t] = fd[u];
    if (fd[t] < 0) fd[t] = open_session(spec);
    ns[t] = calloc((size_t)iters, sizeof(uint64_t));
  }
  uint8_t msg[64], rep[4096];
  int warm = chunk;
  for (int done = -warm; done < iters; done += chunk) {
    for (int t = 0; t < n; t++) {
      for (int i = 0; i < chunk && done + i < iters; i++) {
        region_read(msg, (uint16_t)i, region[t], off[t], count[t]);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        xfer(fd[t], msg, 32, 1);
        xfer(fd[t], rep, 16, 0);
        uint32_t size, flags; memcpy(&size, rep + 4, 4); memcpy(&flags, rep + 8, 4);
        if (size != 32 + count[t] || flags != 1) { fprintf(stderr, "bad REGION_READ reply size %u flags %#x\n", size, flags); return 1; }
        xfer(fd[t], rep + 16, size - 16, 0);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (done + i >= 0) ns[t][done + i] = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000ull + (uint64_t)(t1.tv_nsec - t0.tv_nsec);
      }
    }
  }
  for (int t = 0; t < n; t++) {
    qsort(ns[t], (size_t)iters, sizeof(uint64_t), cmp);
    printf("%llu %llu\n", (unsigned long long)ns[t][iters / 2], (unsigned long long)ns[t][(size_t)iters * 99 / 100]);
  }
  return 0;
}
`;

/**
 * `pound SECONDS REGION OFFSET COUNT SOCKET...`: one session per socket, negotiated before any timing; then one
 * thread per session does REGION_READ round trips, one second unrecorded (servers warm up), then SECONDS
 * recorded, all threads starting each phase together. Prints
 * `requests median p99` (ns, over every round trip of every thread).
 */
const POUND = String.raw`
#include <pthread.h>
struct job { int fd; uint32_t region, count; uint64_t off; double secs; uint64_t *ns; size_t n, cap; };
static pthread_barrier_t go, warm;
static double mono(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static void *worker(void *arg) {
  struct job *j = arg;
  uint8_t msg[64], rep[4096];
  pthread_barrier_wait(&go);
  double end = mono() + 1;
  for (int measuring = 0, id = 0; j->n < j->cap; id++) {
    region_read(msg, (uint16_t)id, j->region, j->off, j->count);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    xfer(j->fd, msg, 32, 1);
    xfer(j->fd, rep, 16, 0);
    uint32_t size; memcpy(&size, rep + 4, 4);
    if (size != 32 + j->count) { fprintf(stderr, "bad reply size %u\n", size); exit(1); }
    xfer(j->fd, rep + 16, size - 16, 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (measuring) j->ns[j->n++] = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000ull + (uint64_t)(t1.tv_nsec - t0.tv_nsec);
    if ((id & 63) == 63 && mono() >= end) {
      if (measuring) break;
      pthread_barrier_wait(&warm);
      measuring = 1;
      end = mono() + j->secs;
    }
  }
  return NULL;
}
static int cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}
int main(int argc, char **argv) {
  if (argc < 6) return 2;
  int n = argc - 5;
  struct job *jobs = calloc((size_t)n, sizeof *jobs);
  pthread_t *th = calloc((size_t)n, sizeof *th);
  pthread_barrier_init(&go, NULL, (unsigned)n);
  pthread_barrier_init(&warm, NULL, (unsigned)n);
  for (int i = 0; i < n; i++) {
    jobs[i] = (struct job){ .fd = open_session(argv[5 + i]), .region = (uint32_t)atoi(argv[2]), .off = (uint64_t)atoll(argv[3]),
      .count = (uint32_t)atoi(argv[4]), .secs = atof(argv[1]), .cap = 1u << 22 };
    jobs[i].ns = malloc(jobs[i].cap * sizeof(uint64_t));
  }
  for (int i = 0; i < n; i++) pthread_create(&th[i], NULL, worker, &jobs[i]);
  size_t total = 0;
  for (int i = 0; i < n; i++) { pthread_join(th[i], NULL); total += jobs[i].n; }
  uint64_t *all = malloc(total * sizeof(uint64_t));
  for (int i = 0, k = 0; i < n; i++) { memcpy(all + k, jobs[i].ns, jobs[i].n * sizeof(uint64_t)); k += (int)jobs[i].n; }
  qsort(all, total, sizeof(uint64_t), cmp);
  printf("%zu %llu %llu\n", total, (unsigned long long)all[total / 2], (unsigned long long)all[total * 99 / 100]);
  return 0;
}
`;

/**
 * `attach [-hold] SOCKET...`: one thread per socket, all starting together; each times connect() up to the VERSION
 * reply (the attach a VMM waits for). Prints one line of ns per socket, in order; with `-hold`, then keeps every
 * session open until its stdin ends. The sessions are closed together.
 */
const ATTACH = String.raw`
#include <pthread.h>
struct job { const char *path; int fd; uint64_t ns; };
static pthread_barrier_t go;
static void *worker(void *arg) {
  struct job *j = arg;
  pthread_barrier_wait(&go);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  j->fd = open_session(j->path);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  j->ns = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000ull + (uint64_t)(t1.tv_nsec - t0.tv_nsec);
  return NULL;
}
int main(int argc, char **argv) {
  int hold = argc > 1 && strcmp(argv[1], "-hold") == 0, first = 1 + hold;
  if (argc < first + 1) return 2;
  int n = argc - first;
  struct job *jobs = calloc((size_t)n, sizeof *jobs);
  pthread_t *th = calloc((size_t)n, sizeof *th);
  pthread_barrier_init(&go, NULL, (unsigned)n);
  for (int i = 0; i < n; i++) { jobs[i].path = argv[first + i]; pthread_create(&th[i], NULL, worker, &jobs[i]); }
  for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < n; i++) printf("%llu\n", (unsigned long long)jobs[i].ns);
  fflush(stdout);
  if (hold) { char c; while (read(0, &c, 1) > 0); }
  for (int i = 0; i < n; i++) close(jobs[i].fd);
  return 0;
}
`;

/**
 * `pace SOCKET INTERVAL_US COUNT REGION OFFSET BYTES`: one REGION_READ every INTERVAL_US (absolute deadlines, 1 ns
 * timer slack; a request whose deadline passed goes at once), a tenth of COUNT unrecorded first; prints the median
 * and p99 round trip in ns.
 */
const PACE = String.raw`
#include <sys/prctl.h>
static int cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}
int main(int argc, char **argv) {
  if (argc < 7) return 2;
  prctl(PR_SET_TIMERSLACK, 1UL);
  uint64_t interval = (uint64_t)atoll(argv[2]) * 1000;
  int iters = atoi(argv[3]), warm = iters / 10;
  uint32_t region = (uint32_t)atoi(argv[4]), count = (uint32_t)atoi(argv[6]);
  uint64_t off = (uint64_t)atoll(argv[5]);
  int fd = open_session(argv[1]);
  uint8_t msg[64], rep[4096];
  uint64_t *ns = calloc((size_t)iters, sizeof(uint64_t));
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  uint64_t base = (uint64_t)start.tv_sec * 1000000000ull + (uint64_t)start.tv_nsec;
  for (int i = 0; i < warm + iters; i++) {
    uint64_t due = base + (uint64_t)i * interval;
    struct timespec at = { .tv_sec = (time_t)(due / 1000000000ull), .tv_nsec = (long)(due % 1000000000ull) };
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL);
    region_read(msg, (uint16_t)i, region, off, count);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    xfer(fd, msg, 32, 1);
    xfer(fd, rep, 16, 0);
    uint32_t size; memcpy(&size, rep + 4, 4);
    if (size != 32 + count) { fprintf(stderr, "bad reply size %u\n", size); return 1; }
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

/**
 * `echo SOCKET`: prints `ready` once listening, then serves connections one after another, each until it hangs up.
 * Each request is read whole and answered as a server would: the same header with the reply bit, and for
 * REGION_READ the access header plus `count` bytes.
 */
const ECHO = String.raw`
static int xfer_or_end(int fd, void *buf, size_t n, int wr) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = wr ? write(fd, (char *)buf + done, n - done) : read(fd, (char *)buf + done, n - done);
    if (r <= 0) return -1;
    done += (size_t)r;
  }
  return 0;
}
static void serve(int fd) {
  static uint8_t in[1 << 16], out[1 << 16];
  for (;;) {
    if (xfer_or_end(fd, in, 16, 0) < 0) return;
    uint32_t size; memcpy(&size, in + 4, 4);
    if (size < 16 || size > sizeof(in)) return;
    if (size > 16 && xfer_or_end(fd, in + 16, size - 16, 0) < 0) return;
    uint16_t cmd; memcpy(&cmd, in + 2, 2);
    uint32_t rsize = size, flags = 1;
    if (cmd == 9) {
      uint32_t count; memcpy(&count, in + 28, 4);
      if (count > sizeof(out) - 32) return;
      rsize = 32 + count;
      memcpy(out, in, 32);
      memset(out + 32, 0x5a, count);
    } else {
      memcpy(out, in, size);
    }
    memcpy(out + 4, &rsize, 4); memcpy(out + 8, &flags, 4);
    if (xfer_or_end(fd, out, rsize, 1) < 0) return;
  }
}
int main(int argc, char **argv) {
  if (argc < 2) return 2;
  int ls = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  strncpy(sa.sun_path, argv[1], sizeof(sa.sun_path) - 1);
  unlink(argv[1]);
  if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 64) < 0) { perror("listen"); return 1; }
  printf("ready\n");
  fflush(stdout);
  for (;;) {
    int fd = accept(ls, NULL, NULL);
    if (fd < 0) { perror("accept"); return 1; }
    serve(fd);
    close(fd);
  }
}
`;

export interface CPeers {
  readonly client: string;
  readonly flood: string;
  readonly deaf: string;
  readonly echo: string;
  readonly compare: string;
  readonly pound: string;
  readonly attach: string;
  readonly pace: string;
}

/** Compile the peers into `dir`; fails with what to install when there is no C compiler. */
export function compilePeers(dir: string): CPeers {
  const names = ['client', 'flood', 'deaf', 'echo', 'compare', 'pound', 'attach', 'pace'] as const;
  const bodies = { client: CLIENT, flood: FLOOD, deaf: DEAF, echo: ECHO, compare: COMPARE, pound: POUND, attach: ATTACH, pace: PACE };
  const out = Object.fromEntries(names.map((n) => [n, join(dir, n)])) as Record<(typeof names)[number], string>;
  for (const name of names) {
    const body = bodies[name];
    const src = join(dir, `${name}.c`);
    writeFileSync(src, COMMON + body);
    try {
      execFileSync('cc', ['-O2', '-pthread', '-o', out[name], src]);
    } catch (e) {
      throw new Error(`compiling the C ${name} failed (install gcc): ${(e as Error).message}`);
    }
  }
  return out;
}

/** Start the echo server and wait for it to listen; the caller kills it. */
export function startEcho(bin: string, path: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [path], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.on('error', reject);
    child.stdout!.once('data', () => resolve(child));
  });
}
