/**
 * vfio-user round-trip latency: 4-byte REGION_READs against umdev's server (served in this process by the real bus
 * driver and a register-file device), compared with the same C client against a C AF_UNIX echo server that reads
 * the same request and writes a reply of the same size (36 bytes): the floor of two processes talking over a
 * socket. Both C programs are compiled here with `cc` (the client is `c-peers.ts`'s). The TypeScript client is measured against umdev as well.
 * Rounds alternate echo and umdev so both see the same machine load; the median of the round medians is reported.
 *
 *   npm run bench -- vfio-user-latency [iterations=20000] [rounds=3]
 */
import { createLogger } from '../src/log.js';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Core } from '../src/core/core.js';
import { PciDevice, pciParent, registerFile } from '../src/sdk/index.js';
import { VfioUserBusDriver } from '../src/vfio-user/bus-driver.js';
import { VfioUserClient } from '../src/vfio-user/client.js';
import { compilePeers } from './c-peers.js';

const ECHO_C = String.raw`
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

static int xfer(int fd, void *buf, size_t n, int wr) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = wr ? write(fd, (char *)buf + done, n - done) : read(fd, (char *)buf + done, n - done);
    if (r <= 0) return -1;
    done += (size_t)r;
  }
  return 0;
}
int main(int argc, char **argv) {
  if (argc < 2) return 2;
  int ls = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  strncpy(sa.sun_path, argv[1], sizeof(sa.sun_path) - 1);
  unlink(argv[1]);
  if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 1) < 0) { perror("listen"); return 1; }
  printf("ready\n");
  fflush(stdout);
  int fd = accept(ls, NULL, NULL);
  static uint8_t in[1 << 16], out[1 << 16];
  for (;;) {
    if (xfer(fd, in, 16, 0) < 0) return 0;
    uint32_t size; memcpy(&size, in + 4, 4);
    if (size < 16 || size > sizeof(in)) return 1;
    if (size > 16 && xfer(fd, in + 16, size - 16, 0) < 0) return 0;
    /* Reply as a server would: same header with the reply bit; REGION_READ carries access header + count bytes. */
    uint16_t cmd; memcpy(&cmd, in + 2, 2);
    uint32_t rsize = size, flags = 1;
    if (cmd == 9) {
      uint32_t count; memcpy(&count, in + 28, 4);
      if (count > sizeof(out) - 32) return 1;
      rsize = 32 + count;
      memcpy(out, in, 32);
      memset(out + 32, 0x5a, count);
    } else {
      memcpy(out, in, size);
    }
    memcpy(out + 4, &rsize, 4); memcpy(out + 8, &flags, 4);
    if (xfer(fd, out, rsize, 1) < 0) return 0;
  }
}
`;

/** A register file: BAR0 of 256 bytes, read synchronously (the path a trapped MMIO read takes). */
function registerDevice(): PciDevice {
  return new PciDevice({
    identity: { vendorId: 0x1b36, deviceId: 0x0005, classCode: 0xff0000 },
    bars: [{ kind: 'mem32', size: 256, ...registerFile(Buffer.alloc(256, 0x5a)) }],
    reset: () => undefined,
  });
}

/** Run a child to completion; resolves with its stdout. */
function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited with ${code}`))));
  });
}

/** Start the echo server and wait for it to listen; the caller kills it by pid. */
function startEcho(bin: string, path: string): Promise<ReturnType<typeof spawn>> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [path], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.on('error', reject);
    child.stdout!.once('data', () => resolve(child));
  });
}

function parse(out: string): { median: number; p99: number } {
  const [median, p99] = out.trim().split(/\s+/).map(Number);
  if (!Number.isFinite(median) || !Number.isFinite(p99)) throw new Error(`bad client output: ${out}`);
  return { median: median!, p99: p99! };
}

const mid = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function main(argv: string[]): Promise<void> {
  const iterations = Number(argv[0] ?? 20000);
  const rounds = Number(argv[1] ?? 3);
  const dir = mkdtempSync(join(tmpdir(), 'umdev-bench-vfio-user-'));
  const core = new Core();
  const children: ReturnType<typeof spawn>[] = [];
  try {
    const { client: clientBin } = compilePeers(dir);
    writeFileSync(join(dir, 'echo.c'), ECHO_C);
    try {
      execFileSync('cc', ['-O2', '-o', join(dir, 'echo'), join(dir, 'echo.c')]);
    } catch (e) {
      throw new Error(`compiling the C echo failed (install gcc): ${(e as Error).message}`);
    }
    core.registerParent(
      pciParent({
        name: 'bench',
        devicePath: 'virtual/bench/bench',
        driverName: 'bench',
        maxInstances: 1,
        types: [{ sysfsName: 'reg' }],
        ops: { create: registerDevice },
      }),
    );
    const driver = new VfioUserBusDriver({ core, runDir: dir, log: createLogger({ sink: { write: () => true } }) });
    await core.registerDriver(driver);
    const uuid = '6c0e2b59-7f0e-4c6b-9d59-1d5a3c1e0b01';
    await core.create('bench', 'bench-reg', uuid);
    const umdevPath = driver.socketPath(uuid);

    const umdev: { median: number; p99: number }[] = [];
    const floor: { median: number; p99: number }[] = [];
    for (let r = 0; r < rounds; r++) {
      const echoPath = join(dir, `echo-${r}.sock`);
      const echo = await startEcho(join(dir, 'echo'), echoPath);
      children.push(echo);
      floor.push(parse(await run(clientBin, [echoPath, String(iterations)])));
      umdev.push(parse(await run(clientBin, [umdevPath, String(iterations)])));
      console.log(`round ${r + 1}: umdev median ${umdev.at(-1)!.median} ns p99 ${umdev.at(-1)!.p99} ns; echo median ${floor.at(-1)!.median} ns p99 ${floor.at(-1)!.p99} ns`);
    }

    // Wait for the C client's session to end before the TypeScript client connects (one client at a time).
    for (let i = 0; i < 200 && driver.connected(uuid); i++) await new Promise((res) => setTimeout(res, 5));
    const client = await VfioUserClient.connect(umdevPath);
    const ts: number[] = [];
    for (let i = 0; i < iterations + iterations / 10; i++) {
      const t0 = process.hrtime.bigint();
      await client.read(0, 0, 4);
      const dt = Number(process.hrtime.bigint() - t0);
      if (i >= iterations / 10) ts.push(dt);
    }
    await client.close();
    ts.sort((a, b) => a - b);

    const median = mid(umdev.map((x) => x.median));
    const p99 = mid(umdev.map((x) => x.p99));
    const floorMedian = mid(floor.map((x) => x.median));
    const tsMedian = ts[Math.floor(ts.length / 2)]!;
    console.log(`umdev (C client) median ${median} ns, p99 ${p99} ns; C echo floor median ${floorMedian} ns; TS client median ${tsMedian} ns`);
    console.log(
      JSON.stringify({
        bench: 'vfio-user-latency',
        unit: 'ns',
        iterations,
        rounds,
        median_ns: median,
        p99_ns: p99,
        floor_median_ns: floorMedian,
        floor_p99_ns: mid(floor.map((x) => x.p99)),
        ts_client_median_ns: tsMedian,
        ratio: Number((median / floorMedian).toFixed(3)),
        better: 'lower',
      }),
    );
  } finally {
    for (const c of children) if (c.exitCode === null && c.pid !== undefined) process.kill(c.pid);
    const cleanup = async (what: string, fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (e) {
        console.error(`bench cleanup: ${what} failed: ${(e as Error).message}`);
      }
    };
    await cleanup('unregisterParent', () => core.unregisterParent('bench'));
    await cleanup('unregisterDriver', () => core.unregisterDriver('vfio-user'));
    rmSync(dir, { recursive: true, force: true });
  }
}
