/**
 * A real eventfd that interrupt code can signal, handed over the way a vfio-user client hands it: sent through an
 * AF_UNIX socket with SCM_RIGHTS, so the code under test owns (and closes) its own descriptor of the same eventfd
 * while the test keeps the original to read the counter.
 */
import fs from 'node:fs';
import { native } from '../../src/native/index.js';

export interface EventChannel {
  /** The received descriptor, to hand over; whoever receives it closes it. */
  readonly fd: number;
  /** Number of signals (the counter) since the last call. */
  drain(): number;
  /** Close the test's side. Idempotent. */
  close(): void;
}

export function eventChannel(): EventChannel {
  const efd = native.eventfd(0, { nonblock: true });
  const [a, b] = native.socketpair();
  let fd: number;
  try {
    if (native.sendMsg(a, [Buffer.from([0])], [efd]) !== 1) throw new Error('could not pass the eventfd');
    const got = native.recvMsg(b, Buffer.alloc(1), 0, 1, 1);
    if (!got || got.fds.length !== 1) throw new Error('the eventfd did not arrive');
    fd = got.fds[0]!;
  } finally {
    native.close(a);
    native.close(b);
  }
  let closed = false;
  return {
    fd,
    drain(): number {
      const v = native.eventfdRead(efd);
      return v === null ? 0 : Number(v);
    },
    close(): void {
      if (closed) return;
      closed = true;
      native.close(efd);
    },
  };
}

/** True while `fd` is open in this process. */
export function isOpen(fd: number): boolean {
  try {
    fs.fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}
