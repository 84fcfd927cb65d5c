/**
 * Live migration across two hosts: two umdevd, each in its own network namespace, joined by a veth pair (documentation
 * addresses 192.0.2.1 and .2 that exist only inside those namespaces), each serving its API on TCP with its bearer
 * token and its clients from device hosts. A vfio-user client drives an mtty UART on the source, `umdevctl migrate`
 * moves it while the client stays connected, the client reconnects to the destination and finds every register,
 * the config space, the bytes waiting in the receive FIFO and its interrupt configuration as it left them. Then a
 * destination killed in the middle of the stream: the device runs on the source again, its client still connected.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { UART } from '../../src/drivers/mtty/uart.js';
import { native } from '../../src/native/index.js';
import { VFIO_DEVICE_STATE as S, VFIO_PCI_IRQ, VFIO_PCI_REGION as R } from '../../src/vfio/constants.js';
import { VfioUserClient } from '../../src/vfio-user/index.js';
import { IrqSetFlags as F } from '../../src/vfio-user/constants.js';
import { call } from '../daemon/helpers.js';
import { exec } from '../process.js';
import { type RunningDaemon, type StateDir, UMDEVCTL, killDaemon, start, stateDir } from './umdevd-process.js';

const PORT = 7117;

async function ip(...args: string[]): Promise<void> {
  const r = await exec('ip', args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')} failed (install iproute2; needs root): ${r.stderr}`);
}

/** Two namespaces joined by a veth pair; everything is deleted after the test, even when it fails. */
async function hosts(t: TestContext): Promise<{ a: string; b: string }> {
  const id = randomBytes(3).toString('hex');
  const a = `umdev-mig-a-${id}`;
  const b = `umdev-mig-b-${id}`;
  t.after(async () => {
    // Deleting a namespace deletes the veth end inside it, and with it the pair.
    await exec('ip', ['netns', 'del', a]);
    await exec('ip', ['netns', 'del', b]);
  });
  await ip('netns', 'add', a);
  await ip('netns', 'add', b);
  await ip('link', 'add', `umva${id}`, 'type', 'veth', 'peer', 'name', `umvb${id}`);
  await ip('link', 'set', `umva${id}`, 'netns', a);
  await ip('link', 'set', `umvb${id}`, 'netns', b);
  for (const [ns, dev, addr] of [[a, `umva${id}`, '192.0.2.1/24'], [b, `umvb${id}`, '192.0.2.2/24']] as const) {
    await ip('-n', ns, 'addr', 'add', addr, 'dev', dev);
    await ip('-n', ns, 'link', 'set', dev, 'up');
    await ip('-n', ns, 'link', 'set', 'lo', 'up');
  }
  return { a, b };
}

/** umdevd in `ns` with its API on the Unix socket and on TCP at `host`. */
async function daemonIn(t: TestContext, ns: string, host: string): Promise<{ ctx: StateDir; d: RunningDaemon; url: string }> {
  const ctx = await stateDir(t, 'umdev-mig-');
  const file = path.join(ctx.dir, 'umdevd.json');
  await writeFile(file, JSON.stringify({ api: { tcp: { host, port: PORT } } }));
  const d = await start(ctx, ['--config', file, '--no-mount'], { netns: ns });
  return { ctx, d, url: `http://${host}:${PORT}` };
}

async function createMtty2(src: { d: RunningDaemon }): Promise<string> {
  const uuid = randomUUID();
  const r = await call(src.d.url, 'POST', '/devices', { parent: 'mtty', type: 'mtty-2', uuid });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return uuid;
}

const out = (c: VfioUserClient, port: number, reg: number, v: number): Promise<void> => c.write(port, reg, Buffer.from([v]));
const inb = async (c: VfioUserClient, port: number, reg: number): Promise<number> => (await c.read(port, reg, 1))[0]!;

/** The guest's set-up: line settings and divisor, scratch, FIFO on, modem control, RX interrupt, bytes waiting, MSI. */
async function program(c: VfioUserClient, eventfd: number): Promise<void> {
  await c.setIrqs({ index: VFIO_PCI_IRQ.MSI, flags: F.DATA_EVENTFD | F.ACTION_TRIGGER, start: 0, count: 1, fds: [eventfd] });
  // Port 0: divisor 12 (9600 baud), then 8N1 with DLAB off, so its receive FIFO is what a guest reads at 0.
  await out(c, 0, UART.LCR, UART.LCR_DLAB);
  await out(c, 0, UART.DLL, 12);
  await out(c, 0, UART.DLM, 0);
  await out(c, 0, UART.LCR, 0x1b);
  await out(c, 0, UART.FCR, UART.FCR_ENABLE_FIFO | UART.FCR_CLEAR_RCVR | UART.FCR_CLEAR_XMIT);
  await out(c, 0, UART.MCR, UART.MCR_DTR | UART.MCR_RTS | UART.MCR_OUT2);
  await out(c, 0, UART.IER, UART.IER_RDI | UART.IER_RLSI);
  await out(c, 0, UART.SCR, 0x5a);
  for (const b of Buffer.from('umdev')) await out(c, 0, UART.TX, b);
  // Port 1 stays with DLAB set, so its divisor is what a guest reads at 0 and 1.
  await out(c, 1, UART.LCR, UART.LCR_DLAB | 0x03);
  await out(c, 1, UART.DLL, 0x01);
  await out(c, 1, UART.DLM, 0x02);
  await out(c, 1, UART.SCR, 0xa5);
  // Config space: memory and I/O decoding on.
  await c.write(R.CONFIG, 4, Buffer.from([0x03, 0x00]));
}

/** Every register a guest can read without changing it (port 0's RBR pops the FIFO: read apart), and config space. */
async function visible(c: VfioUserClient): Promise<{ port0: number[]; port1: number[]; config: string }> {
  const port0: number[] = [];
  for (const reg of [UART.IER, UART.IIR, UART.LCR, UART.MCR, UART.LSR, UART.MSR, UART.SCR]) port0.push(await inb(c, 0, reg));
  const port1: number[] = [];
  for (let reg = 0; reg < 8; reg++) port1.push(await inb(c, 1, reg));
  return { port0, port1, config: (await c.read(R.CONFIG, 0, 256)).toString('hex') };
}

/** `umdevctl migrate` from the source's socket API to the destination's TCP API; the NDJSON lines as they come. */
function migrate(src: { ctx: StateDir; d: RunningDaemon }, dst: { ctx: StateDir; url: string }, uuid: string, extra: string[] = []) {
  const p = spawn(process.execPath, [UMDEVCTL, '--json', 'migrate', uuid, '--to', dst.url, '--to-token-file', path.join(dst.ctx.dir, 'api.token'), '--api', src.d.url, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  let buf = '';
  const waiters: { phase: string; resolve: () => void }[] = [];
  p.stdout.setEncoding('utf8').on('data', (s: string) => {
    buf += s;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
      buf = buf.slice(nl + 1);
      lines.push(line);
      for (const w of waiters.filter((x) => x.phase === line.phase)) w.resolve();
    }
  });
  p.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<number>((resolve) => p.once('exit', (code) => resolve(code ?? -1)));
  const phase = (name: string) => new Promise<void>((resolve) => waiters.push({ phase: name, resolve }));
  return { lines, exited, phase, stderr: () => stderr };
}

test('an mtty device moves between two hosts with its client connected until switch-over, every register intact; a killed destination rolls back', { timeout: 120_000 }, async (t) => {
  const ns = await hosts(t);
  const src = await daemonIn(t, ns.a, '192.0.2.1');
  const dst = await daemonIn(t, ns.b, '192.0.2.2');
  const uuid = await createMtty2(src);
  const efd = native.eventfd(0, { nonblock: true });
  t.after(() => native.close(efd));

  const c = await VfioUserClient.connect(path.join(src.ctx.dir, 'run', `${uuid}.sock`));
  t.after(() => c.close());
  // A VMM that can follow a migration asks about it first (one that never does is refused without --force).
  await c.migrationFlags();
  await program(c, efd);
  assert.equal(native.eventfdRead(efd), 1n, 'the first received byte raised MSI on the source');
  await visible(c); // reading LSR clears OE: the state compared is the one after a first read
  const before = await visible(c);

  const m = migrate(src, dst, uuid);
  assert.equal(await m.exited, 0, m.stderr());
  const done = m.lines.at(-1)?.done as { preCopyBytes: number; stopCopyBytes: number; downtimeMs: number } | undefined;
  assert.ok(done, `a result line: ${JSON.stringify(m.lines)}`);
  assert.deepEqual(m.lines.slice(0, -1).map((l) => l.phase), ['created', 'pre-copy', 'stop-copy', 'switched']);
  assert.equal(done.preCopyBytes, 96, "PRE_COPY carried the kernel sample's stream (24 + 2 × 36 bytes)");
  assert.equal(done.stopCopyBytes, 96);
  await c.whenClosed(); // the source device is gone, and the client's connection with it
  assert.equal((await call(src.d.url, 'GET', `/devices/${uuid}`)).status, 404, 'source device removed');
  assert.equal((await call(dst.d.url, 'GET', `/devices/${uuid}`)).status, 200, 'destination has the same UUID');

  const c2 = await VfioUserClient.connect(path.join(dst.ctx.dir, 'run', `${uuid}.sock`));
  t.after(() => c2.close());
  assert.deepEqual(await visible(c2), before, 'registers, divisor, scratch and config space are identical');
  assert.equal(await c2.migrationState(), S.RUNNING);
  // The interrupt configuration came along: MSI is still the active index, so INTx cannot be enabled over it.
  const efd2 = native.eventfd(0, { nonblock: true });
  t.after(() => native.close(efd2));
  await assert.rejects(c2.setIrqs({ index: VFIO_PCI_IRQ.INTX, flags: F.DATA_EVENTFD | F.ACTION_TRIGGER, start: 0, count: 1, fds: [efd2] }), (e: unknown) => (e as { errno?: string }).errno === 'EINVAL');
  await c2.setIrqs({ index: VFIO_PCI_IRQ.MSI, flags: F.DATA_EVENTFD | F.ACTION_TRIGGER, start: 0, count: 1, fds: [efd2] });
  const pending: number[] = [];
  while ((await inb(c2, 0, UART.LSR)) & UART.LSR_DR) pending.push(await inb(c2, 0, UART.RX));
  assert.equal(Buffer.from(pending).toString(), 'umdev', 'the bytes waiting in the receive FIFO arrived');
  await out(c2, 0, UART.TX, 0x21);
  assert.equal(native.eventfdRead(efd2), 1n, 'the RX interrupt goes out through MSI on the destination');

  // Rollback: the stream is paced so the destination can be killed in the middle of it.
  const uuid2 = await createMtty2(src);
  const c3 = await VfioUserClient.connect(path.join(src.ctx.dir, 'run', `${uuid2}.sock`));
  t.after(() => c3.close());
  await c3.migrationFlags();
  await program(c3, efd);
  await visible(c3);
  const before3 = await visible(c3);
  const m2 = migrate(src, dst, uuid2, ['--max-bandwidth', '32']);
  await m2.phase('created');
  await new Promise((r) => setTimeout(r, 600));
  await killDaemon(dst.d);
  assert.notEqual(await m2.exited, 0, 'the migration failed');
  const last = m2.lines.at(-1) as { error?: { errno: string } };
  assert.ok(last.error, `an error line: ${JSON.stringify(m2.lines)}`);
  assert.ok(m2.lines.some((l) => l.phase === 'rolled-back'), JSON.stringify(m2.lines));
  assert.ok(!m2.lines.some((l) => l.phase === 'stop-copy'), 'killed during PRE_COPY');
  assert.equal(c3.closed, false, 'the client is still connected to the source');
  assert.equal(await c3.migrationState(), S.RUNNING, 'the source device runs again');
  assert.deepEqual(await visible(c3), before3, 'and is as the guest left it');
  await c3.setMigrationState(S.STOP);
  await c3.setMigrationState(S.RUNNING);
  assert.equal((await call(src.d.url, 'GET', `/devices/${uuid2}`)).status, 200);
});
