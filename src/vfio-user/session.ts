/**
 * Concepts: one client's session with one device, on a socket that is already accepted: it opens the device with a
 * DMA view, serves commands until the client goes (or is told to go), then undoes it as the kernel's file release
 * does: DMA windows dropped (by the connection), then the device closed (`close_device`: the client's eventfds and
 * per-session memory go; what else a close does is the vendor's). Whoever starts it holds the device's core handle
 * around it; a device's instance (`LocalInstance`) runs its sessions one after another, in the daemon or in the
 * device's host.
 */
import { toUmdevError } from '../errors.js';
import type { Native } from '../native/index.js';
import type { VfioDevice } from '../vfio/device.js';
import type { TwinSource } from './instance.js';
import { Connection } from './connection.js';
import { SERVER_MAX_DMA_MAPS } from './constants.js';
import { DmaBudget, defaultDmaBudget } from './dma-budget.js';
import type { LimitedLog } from '../log-limit.js';
import type { Logger } from './log.js';
import { HANDLERS } from './server.js';
import { BusyPoll } from '../native/busy-poll.js';
import { SocketTransport } from './transport.js';

/** SCM_MAX_FD: receive every fd a peer sends, so surplus ones are closed by the handler, not lost to MSG_CTRUNC. */
export const RECV_MAX_FDS = 253;

export interface SessionOptions {
  /** The accepted, connected client socket; the session owns it. */
  readonly fd: number;
  readonly device: VfioDevice;
  readonly io: Native;
  readonly log: Logger;
  readonly maxDmaMaps?: number;
  /** Mappings and fds every client of this process may hold together (default: this process's own budget). */
  readonly dmaBudget?: DmaBudget;
  /** Rate-limited lines for what a client can repeat in a loop (default: plain log lines). */
  readonly limited?: LimitedLog;
  /** Busy-poll the client's socket for its next request for up to this many ns after each reply (0: never). */
  readonly busyPollNs?: number;
  /** The socket pair for twin-socket mode; absent: twin_socket is not offered. */
  readonly twin?: TwinSource;
}

/** A running session: `ended` once the client is gone, `done` once the device is closed again. */
export interface Session {
  readonly connection: Connection;
  readonly ended: Promise<void>;
  readonly done: Promise<void>;
}

export function startSession(o: SessionOptions): Session {
  const who = describeClient(o.io, o.fd);
  const transport = new SocketTransport(o.fd, o.io, { maxFds: RECV_MAX_FDS });
  const connection = new Connection({
    device: o.device,
    transport,
    io: o.io,
    log: o.log,
    handlers: HANDLERS,
    maxDmaMaps: o.maxDmaMaps ?? SERVER_MAX_DMA_MAPS,
    dmaBudget: o.dmaBudget ?? new DmaBudget(defaultDmaBudget()),
    ...(o.twin === undefined ? {} : { twin: { source: o.twin, io: o.io } }),
  });
  if (o.busyPollNs) transport.busyPoll(new BusyPoll(o.busyPollNs), () => connection.answered);
  const ended = new Promise<void>((resolve) => connection.onClose(() => resolve()));
  return { connection, ended, done: run(o, connection, ended, who) };
}

async function run(o: SessionOptions, conn: Connection, ended: Promise<void>, who: string): Promise<void> {
  let opened = false;
  try {
    await o.device.open({ dma: conn.dma.access, log: (level, message) => o.log(level, message), watchReadable: (fd, cb) => watchReadable(o, fd, cb) });
    opened = true;
    o.log('info', `client connected: ${who}`);
    if (!conn.closed) conn.start();
  } catch (e) {
    const ue = toUmdevError(e);
    if (o.limited) o.limited('session', 'warn', `cannot start a session: ${ue.message}`);
    else o.log('warn', `cannot start a session: ${ue.message}`);
    conn.close(ue);
  }
  await ended;
  if (!opened) return;
  // DMA is gone already (the connection dropped it); closing releases the client's interrupts.
  try {
    await o.device.close();
  } catch (e) {
    o.log('warn', `device close after disconnect failed: ${toUmdevError(e).message}`);
  }
  o.log('info', 'client disconnected; device closed');
}

/** A device's watch on a client fd (the INTx unmask eventfd); it never keeps the process alive on its own. */
function watchReadable(o: SessionOptions, fd: number, onReadable: () => void): { stop(): void } {
  const w = o.io.watch(fd, { readable: true }, (e) => {
    if (!e) return onReadable();
    o.log('warn', `watch on client fd ${fd} failed: ${e.message}`);
    w.stop();
  });
  w.unref();
  return w;
}

/** `vfio-user client pid 1234 (uid 0)` from the socket's SO_PEERCRED; just `vfio-user client` where that fails. */
export function describeClient(io: Pick<Native, 'peerCred'>, fd: number): string {
  try {
    return clientName(io.peerCred(fd));
  } catch {
    // A transport without peer credentials (a test's fake) still gets a line, only a vaguer one.
    return clientName(undefined);
  }
}

/** How log lines name a client: by its peer credentials, when the transport has them. */
export function clientName(peer: { readonly pid: number; readonly uid: number } | undefined): string {
  return peer === undefined ? 'vfio-user client' : `vfio-user client pid ${peer.pid} (uid ${peer.uid})`;
}
