/**
 * The vfio-user fuzz target: a child process serving an mtty-2, the DMA fixture device and an mvblk disk over the real
 * bus driver (`vfio-user-server.ts`), attacked over real unix sockets with random and mutated messages, hostile
 * virtio rings (loops, 64k chains, DMA outside memory, unmap and reset while requests run), fds of the wrong kind
 * and size, DMA into memfds truncated behind the server's back, interrupts on full blocking eventfds, half-sent
 * messages, replies left unread, and reconnect storms. The probe is a fresh `VfioUserClient` per device: VERSION,
 * then a config-space read.
 */
import { ftruncateSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { native } from '../../src/native/index.js';
import { VfioUserClient } from '../../src/vfio-user/client.js';
import { Command, HEADER_SIZE, IrqSetFlags } from '../../src/vfio-user/constants.js';
import { spawnServed } from '../child.js';
import type { FuzzTarget, Launched } from '../engine.js';
import type { Rng } from '../rng.js';
import { FdFactory, closeAll } from './vfio-user-fds.js';
import { message } from './vfio-user-messages.js';
import { blkScenario } from './vfio-user-blk.js';

const SERVER = join(dirname(fileURLToPath(import.meta.url)), 'vfio-user-server.js');
const FIXTURE = 1;
const BLK = 2;
const CONFIG = 7;
/** Fixture BAR0 registers (test/vfio-user/fixtures.ts). */
const REG = { IRQ: 0x04, DMA_SRC: 0x08, DOORBELL: 0x1c } as const;

interface Conn {
  readonly fd: number;
  readonly device: number;
  negotiated: boolean;
}

function frame(cmd: number, body: Buffer, msgId = 0): Buffer {
  const h = Buffer.alloc(HEADER_SIZE);
  h.writeUInt16LE(msgId, 0);
  h.writeUInt16LE(cmd, 2);
  h.writeUInt32LE(HEADER_SIZE + body.length, 4);
  return Buffer.concat([h, body]);
}

const VERSION = frame(Command.VERSION, Buffer.concat([Buffer.alloc(4), Buffer.from('{"capabilities":{"max_msg_fds":16}}\0')]));

class Session implements Launched {
  readonly pid: number;
  readonly exited: Launched['exited'];
  readonly #sockets: string[];
  readonly #kill: () => void;
  readonly #fds = new FdFactory();
  #conns: Conn[] = [];
  readonly #rx = Buffer.allocUnsafe(1 << 20);

  constructor(pid: number, sockets: string[], exited: Launched['exited'], kill: () => void) {
    this.pid = pid;
    this.#sockets = sockets;
    this.exited = exited;
    this.#kill = kill;
  }

  async input(rng: Rng): Promise<void> {
    const roll = rng.int(100);
    if (roll < 52) this.#message(rng);
    else if (roll < 62) this.#blk(rng);
    else if (roll < 72) this.#dma(rng);
    else if (roll < 80) this.#irq(rng);
    else if (roll < 85) this.#halfSent(rng);
    else if (roll < 88) this.#storm(rng);
    else if (roll < 92 && this.#conns.length > 0) this.#drop(rng.int(this.#conns.length));
    else this.#message(rng);
    // Replies are read only now and then: the rest of the time the server must cope with a client that does not read.
    if (rng.chance(0.7)) this.#drainAll();
    await new Promise((r) => setImmediate(r));
  }

  async endBatch(): Promise<void> {
    for (let i = this.#conns.length - 1; i >= 0; i--) this.#drop(i);
  }

  async probe(): Promise<void> {
    for (const path of this.#sockets) {
      const c = await connectWhenFree(path);
      try {
        const cfg = await c.read(CONFIG, 0, 4);
        if (cfg.readUInt16LE(0) === 0 || cfg.readUInt16LE(0) === 0xffff) throw new Error(`config space of ${path} reads ${cfg.toString('hex')}`);
      } finally {
        await c.close();
      }
    }
  }

  async stop(): Promise<void> {
    await this.endBatch();
    this.#fds.dispose();
    this.#kill();
    await this.exited;
  }

  #conn(rng: Rng, device = rng.int(this.#sockets.length), negotiate = rng.chance(0.9)): Conn | undefined {
    const existing = this.#conns.find((c) => c.device === device);
    if (existing) return existing;
    let fd: number;
    try {
      fd = native.connectUnix(this.#sockets[device]!);
    } catch {
      return undefined; // backlog full during a storm
    }
    const c: Conn = { fd, device, negotiated: false };
    this.#conns.push(c);
    if (negotiate && this.#send(c, VERSION)) c.negotiated = true;
    return c;
  }

  /** Send one message whole; a socket that cannot take it (full, or gone) is dropped: a disconnect mid-message. */
  #send(c: Conn, m: Buffer, fds?: number[]): boolean {
    let sent: number;
    try {
      sent = native.sendMsg(c.fd, [m], fds && fds.length > 0 ? fds : undefined);
    } catch {
      sent = -2;
    }
    if (sent !== m.length) {
      this.#drop(this.#conns.indexOf(c));
      return false;
    }
    return true;
  }

  #message(rng: Rng): void {
    const c = this.#conn(rng);
    if (!c) return;
    const fds = rng.chance(0.12) ? Array.from({ length: 1 + rng.int(3) }, () => this.#fds.any(rng)) : [];
    const m = message(rng, c.negotiated);
    this.#send(c, m, fds);
    closeAll(fds);
  }

  /** DMA_MAP a memfd (sealed or not, maybe smaller than claimed), maybe truncate it, then ring the fixture's doorbell. */
  #dma(rng: Rng): void {
    const c = this.#conn(rng, FIXTURE, true);
    if (!c) return;
    const size = rng.pick([0x1000, 0x4000, 0x10000]);
    const fd = this.#fds.memfd(rng.chance(0.2) ? 0x1000 : size, rng.chance(0.5));
    const iova = BigInt(1 + rng.int(64)) * 0x10000n;
    const map = Buffer.alloc(32);
    map.writeUInt32LE(32, 0);
    map.writeUInt32LE(3, 4);
    map.writeBigUInt64LE(iova, 16);
    map.writeBigUInt64LE(BigInt(size), 24);
    const ok = this.#send(c, frame(Command.DMA_MAP, map), [fd]);
    try {
      if (ok && rng.chance(0.5)) ftruncateSync(fd, rng.pick([0, 0x1000]));
    } catch {
      // sealed: the server mapped it, and we cannot shrink it
    }
    native.close(fd);
    if (!ok) return;
    const regs = Buffer.alloc(20);
    regs.writeBigUInt64LE(iova + BigInt(rng.int(size)), 0);
    regs.writeBigUInt64LE(iova + BigInt(rng.int(size)), 8);
    regs.writeUInt32LE(rng.pick([1, 4, 0x100, 0x1000, 0x10000]), 16);
    if (this.#send(c, frame(Command.REGION_WRITE, Buffer.concat([access(0, REG.DMA_SRC, 20), regs])))) {
      this.#send(c, frame(Command.REGION_WRITE, Buffer.concat([access(0, REG.DOORBELL, 4), Buffer.from([1, 0, 0, 0])])));
    }
  }

  /** A hostile virtio-blk scenario on the mvblk disk, on a fresh connection (see `vfio-user-blk.ts`). */
  #blk(rng: Rng): void {
    const old = this.#conns.findIndex((x) => x.device === BLK);
    if (old >= 0 && rng.chance(0.7)) this.#drop(old);
    const c = this.#conn(rng, BLK, true);
    if (!c) return;
    const { steps, release } = blkScenario(rng);
    try {
      for (const s of steps) {
        const ok = this.#send(c, s.frame, s.fds);
        closeAll(s.fds ?? []);
        if (!ok) return;
        s.after?.();
      }
      if (rng.chance(0.2)) this.#drop(this.#conns.indexOf(c));
    } finally {
      release();
    }
  }

  /** Install eventfds of random kinds (often full and blocking) for INTx or MSI, then make the fixture raise it. */
  #irq(rng: Rng): void {
    const device = rng.int(this.#sockets.length);
    const c = this.#conn(rng, device, true);
    if (!c) return;
    const index = rng.int(2);
    const fds = [rng.chance(0.7) ? blockingFull() : this.#fds.any(rng)];
    const set = Buffer.alloc(20);
    set.writeUInt32LE(20, 0);
    set.writeUInt32LE(IrqSetFlags.DATA_EVENTFD | IrqSetFlags.ACTION_TRIGGER, 4);
    set.writeUInt32LE(index, 8);
    set.writeUInt32LE(0, 12);
    set.writeUInt32LE(1, 16);
    const ok = this.#send(c, frame(Command.DEVICE_SET_IRQS, set), fds);
    closeAll(fds);
    if (ok && device === FIXTURE) {
      this.#send(c, frame(Command.REGION_WRITE, Buffer.concat([access(0, REG.IRQ, 4), Buffer.from([index, 0, 0, 0])])));
    }
  }

  /** A message cut short, then the connection is gone. */
  #halfSent(rng: Rng): void {
    const c = this.#conn(rng);
    if (!c) return;
    const m = message(rng, c.negotiated);
    try {
      native.sendMsg(c.fd, [m.subarray(0, rng.int(m.length))]);
    } catch {
      // gone already
    }
    this.#drop(this.#conns.indexOf(c));
  }

  /** Many connections at once, most closed at once, some after a VERSION. */
  #storm(rng: Rng): void {
    const fds: number[] = [];
    for (let i = 0, n = 5 + rng.int(40); i < n; i++) {
      try {
        const fd = native.connectUnix(rng.pick(this.#sockets));
        if (rng.chance(0.5)) native.sendMsg(fd, [VERSION]);
        fds.push(fd);
      } catch {
        break;
      }
    }
    closeAll(fds);
  }

  #drop(i: number): void {
    if (i < 0) return;
    const [c] = this.#conns.splice(i, 1);
    if (c) closeAll([c.fd]);
  }

  #drainAll(): void {
    for (let i = this.#conns.length - 1; i >= 0; i--) {
      const c = this.#conns[i]!;
      try {
        for (;;) {
          const r = native.recvMsg(c.fd, this.#rx, 0, this.#rx.length, 253);
          if (r === null) break;
          closeAll(r.fds);
          if (r.bytes === 0) throw new Error('eof');
        }
      } catch {
        this.#drop(i);
      }
    }
  }
}

/** REGION_READ/WRITE's access header. */
function access(region: number, offset: number, count: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeBigUInt64LE(BigInt(offset), 0);
  b.writeUInt32LE(region, 8);
  b.writeUInt32LE(count, 12);
  return b;
}

/** A blocking eventfd whose counter is full: a write to it would block forever. */
function blockingFull(): number {
  const fd = native.eventfd(0);
  native.eventfdWrite(fd, 0xfffffffffffffffen);
  return fd;
}

/** A negotiated client, retrying while the previous session is still being cleaned up (EBUSY). */
async function connectWhenFree(path: string): Promise<VfioUserClient> {
  let last: unknown;
  for (let i = 0; i < 100; i++) {
    try {
      return await VfioUserClient.connect(path);
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  throw new Error(`no session on ${path}: ${String(last)}`);
}

export const target: FuzzTarget = {
  name: 'vfio-user',
  launch: async () => {
    const s = await spawnServed([SERVER], () => true);
    const { sockets } = JSON.parse(s.line) as { sockets: string[] };
    return new Session(s.pid, sockets, s.exited, () => s.child.kill('SIGTERM'));
  },
};
