/**
 * Concepts: the operating-system process under a device host, as umdevd sees it: its pid, how it ended, a way to
 * kill it, and its stderr. A host is either spawned by umdevd (a child of umdevd, `spawnedProcess`) or forked by the
 * zygote (`forkedProcess`: the zygote's child, which umdevd watches and signals through a pidfd, so a pid the kernel
 * has since given to another process is never signalled; the zygote reports how it ended).
 */
import type { ChildProcess } from 'node:child_process';
import { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { constants } from 'node:os';
import type { Native } from '../../native/index.js';
import { safeClose } from '../../vfio-user/transport.js';

/** How a process ended: its exit status, or the signal that killed it (by name); both null when unknown. */
export interface Ending {
  readonly code: number | null;
  readonly signal: string | null;
}

/** One host's process. */
export interface OsProcess {
  readonly pid: number;
  /** Resolves once the process has ended (never rejects). */
  readonly ended: Promise<Ending>;
  /** True until it has ended. */
  readonly running: boolean;
  /** SIGKILL, if it still runs. */
  kill(): void;
  /** What it writes on fd 2 (umdevd reads it as the host's log). */
  readonly stderr: Readable | null;
}

/** A host umdevd spawned itself. */
export function spawnedProcess(child: ChildProcess): OsProcess {
  let running = true;
  const ended = new Promise<Ending>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      resolve({ code, signal });
    });
  });
  return {
    pid: child.pid ?? -1,
    ended,
    get running() {
      return running && child.exitCode === null && child.signalCode === null;
    },
    kill: () => {
      if (running) child.kill('SIGKILL');
    },
    stderr: child.stderr,
  };
}

/** How long an ended forked host waits for the zygote's word on how it ended, before it is logged without one. */
const STATUS_WAIT_MS = 200;

/**
 * A host the zygote forked: `pidfd` (owned from here on) says when it ends and takes the kill; `stderr` (a socket,
 * owned from here on) is its fd 2; `status` is the zygote's report of how it ended, if one comes.
 */
export function forkedProcess(pid: number, pidfd: number, stderr: number, io: Native, status: Promise<Ending>): OsProcess {
  let running = true;
  const err = new Socket({ fd: stderr, readable: true, writable: false });
  err.on('error', () => undefined);
  const ended = new Promise<Ending>((resolve) => {
    // A pidfd is readable once its process has ended; nothing else is ever read from it.
    const w = io.watch(pidfd, { readable: true }, () => {
      w.stop();
      running = false;
      safeClose(io, pidfd);
      let timer: NodeJS.Timeout | undefined;
      const unknown = new Promise<Ending>((r) => {
        timer = setTimeout(() => r({ code: null, signal: null }), STATUS_WAIT_MS);
      });
      void Promise.race([status, unknown]).then((e) => {
        clearTimeout(timer);
        resolve(e);
      });
    });
    w.unref();
  });
  return {
    pid,
    ended,
    get running() {
      return running;
    },
    kill: () => {
      if (!running) return;
      try {
        io.pidfdKill(pidfd, constants.signals.SIGKILL);
      } catch {
        // Ended between the check and the call: nothing left to kill.
      }
    },
    stderr: err,
  };
}
