/**
 * `npm run bench -- blk [rounds=3] [iters=20000]`: what an mvblk disk costs, from a guest and from the host.
 *
 * Guest side: one Linux guest under TCG with two disks on the same image file, mvblk through QEMU's vfio-user-pci
 * (served by umdevd as shipped: a device host, FUSE and the API running) and QEMU's built-in virtio-blk-pci. The
 * guest (vm/guest/init-blk-bench) takes turns between them: sequential O_DIRECT reads and writes in 1 MiB requests
 * (MB/s), and 4 KiB O_DIRECT random reads at queue depth 1 (reads/s). Each figure is the median of the rounds;
 * `ratio` is mvblk's sequential read throughput over QEMU's (higher is better), `randread_ratio` and
 * `seqwrite_ratio` the same for the others.
 *
 * Host side: a C virtio-blk driver (bench/c-blk.ts) drives the same umdevd device directly over vfio-user, 4 KiB
 * random reads at queue depth 1 (median time per request) and 32 (mean time per request), against the C AF_UNIX
 * echo floor (bench/c-peers.ts: one round trip between two processes). `qd1_ratio` is the QD1 request time over
 * the floor (lower is better). Needs root, the VM root (./setup --vm), gcc with a static libc.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { facts } from '../vm/guest-facts.js';
import { guestModules } from '../src/vm/guest-modules.js';
import { writeInitramfs } from '../src/vm/initramfs.js';
import { GUEST_SHARE, guestKernel, startGuest, vmRoot } from '../src/vm/qemu.js';
import { compileBlkPeers } from './c-blk.js';
import { compilePeers, startEcho } from './c-peers.js';
import { Daemon, mid, runClient, runPeer, sleep } from './daemon-harness.js';

const MiB = 1 << 20;
const IMAGE_BYTES = 256 * MiB;
const INIT = fileURLToPath(new URL('../../vm/guest/init-blk-bench', import.meta.url));
const GUEST_MIB = 256;
const RAND_MS = 3000;

function round(n: number, places = 2): number {
  const f = 10 ** places;
  return Math.round(n * f) / f;
}

export async function main(argv: string[]): Promise<void> {
  const rounds = Number(argv[0] ?? 3);
  const iters = Number(argv[1] ?? 20000);
  const guestOnly = argv.includes('--guest-only');
  const dir = mkdtempSync(join(tmpdir(), 'umdev-bench-blk-'));
  const state = join(dir, 'state');
  mkdirSync(join(state, 'images'), { recursive: true });
  const image = join(state, 'images', 'bench.img');
  writeFileSync(image, randomBytes(IMAGE_BYTES));
  const blk = compileBlkPeers(dir);
  const peers = compilePeers(dir);
  const daemon = await Daemon.start(state, { parents: [{ driver: 'mvblk' }] });
  const echoSock = join(dir, 'echo.sock');
  const echo = await startEcho(peers.echo, echoSock);
  // Printed once the daemon has stopped, so that its last log lines come before it: the figures are the last line.
  let figures: object;
  try {
    const uuid = daemon.create('mvblk-small', 'mvblk');
    writeFileSync(join(state, 'sys/bus/mdev/devices', uuid, 'backing'), 'bench.img');
    await sleep(200);

    // Host side: the device through umdevd, and the floor, in turns so both see the same load.
    const floor: number[] = [];
    const qd1: number[] = [];
    const qd32: number[] = [];
    const iops32: number[] = [];
    for (let r = 0; r < (guestOnly ? 0 : 3); r++) {
      floor.push((await runClient(peers.client, [echoSock, String(iters)])).median);
      qd1.push((await runPeer(blk.client, [daemon.socket(uuid), '1', String(iters)]))[0]!.median);
      const deep = (await runPeer(blk.client, [daemon.socket(uuid), '32', String(iters * 4)]))[0]!;
      qd32.push(deep.median);
      iops32.push(deep.p99);
      console.log(`host round ${r + 1}: floor ${round(floor.at(-1)! / 1000)} us, QD1 ${round(qd1.at(-1)! / 1000)} us, QD32 ${round(qd32.at(-1)! / 1000)} us/request (${iops32.at(-1)} IOPS)`);
    }

    // Guest side: one guest, both disks on the same image.
    const root = vmRoot();
    const kernel = guestKernel(root);
    const modules = guestModules(root, kernel, ['virtio_blk']);
    await writeInitramfs(join(state, 'initrd.gz'), join(root, 'bin/busybox'), INIT, {
      dirs: ['modules'],
      files: [...modules.files, { name: 'guestio', data: readFileSync(blk.guestio) }, { name: 'params', data: Buffer.from(`${rounds} ${GUEST_MIB} ${RAND_MS}\n`) }],
    });
    const guest = startGuest(
      root,
      state,
      {
        kernel,
        initrd: `${GUEST_SHARE}/initrd.gz`,
        socket: `${GUEST_SHARE}/run/${uuid}.sock`,
        memoryMiB: 512,
        append: 'console=ttyS0 panic=-1 loglevel=4',
        extra: ['-drive', `file=${GUEST_SHARE}/images/bench.img,format=raw,if=none,id=qd,cache=writeback`, '-device', 'virtio-blk-pci,drive=qd,serial=qemu'],
      },
      1_800_000,
    );
    const run = await guest.done;
    const seen = facts(run.console);
    if (process.env.UMDEV_BENCH_CONSOLE) writeFileSync(process.env.UMDEV_BENCH_CONSOLE, run.console + run.stderr);
    if (seen.some((f) => f[0] === 'fail') || run.code !== 0 || !seen.some((f) => f[0] === 'bench')) throw new Error(`the bench guest failed (QEMU ${run.code ?? run.signal})\n${run.console.slice(-3000)}\n${run.stderr.slice(-2000)}`);
    const figure = (disk: string, mode: string): number => {
      const xs = seen.filter((f) => f[0] === 'bench' && f[1] === disk && f[2] === mode).map((f) => Number(f[3]));
      if (xs.length === 0 || xs.some((x) => !Number.isFinite(x))) throw new Error(`no ${mode} figure for ${disk}\n${run.console.slice(-3000)}`);
      return mid(xs);
    };
    const g = Object.fromEntries(
      ['seqread', 'seqwrite', 'randread'].flatMap((m) => [
        [`${m}_umdev`, figure('umdev', m)],
        [`${m}_qemu`, figure('qemu', m)],
      ]),
    ) as Record<string, number>;
    for (const m of ['seqread', 'seqwrite', 'randread']) console.log(`guest ${m}: umdev ${g[`${m}_umdev`]} qemu ${g[`${m}_qemu`]} (${m === 'randread' ? 'reads/s' : 'MB/s'})`);
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    figures = {
      bench: 'blk',
      unit: 'guest MB/s and reads/s; host us/request',
      seqread_mbps: { umdev: g.seqread_umdev, qemu: g.seqread_qemu },
      seqwrite_mbps: { umdev: g.seqwrite_umdev, qemu: g.seqwrite_qemu },
      randread_iops: { umdev: g.randread_umdev, qemu: g.randread_qemu },
      host_qd1_us: round(mid(qd1) / 1000),
      host_qd32_us: round(mid(qd32) / 1000),
      host_qd32_iops: mid(iops32),
      floor_us: round(mid(floor) / 1000),
      qd1_ratio: round(mid(qd1) / mid(floor)),
      randread_ratio: round(g.randread_umdev! / g.randread_qemu!),
      seqwrite_ratio: round(g.seqwrite_umdev! / g.seqwrite_qemu!),
      load,
      ratio: round(g.seqread_umdev! / g.seqread_qemu!),
      better: 'higher',
    };
  } finally {
    echo.kill();
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(JSON.stringify(figures));
}
