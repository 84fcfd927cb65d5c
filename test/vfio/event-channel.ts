/**
 * A real fd that interrupt code can signal, and a way to count the signals. Backed by a FIFO (named pipe): the
 * write end is what a client would pass as an eventfd (the code under test owns and closes it), the read end stays
 * with the test. Writes of the 8-byte value 1 go through `fs.writeSync` exactly as on an eventfd.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

export interface EventChannel {
  /** The write end, to hand over; whoever receives it closes it. */
  readonly fd: number;
  /** Number of signals received since the last call (each is one 8-byte little-endian 1). */
  drain(): number;
  /** Close the read end and remove the FIFO. Idempotent. */
  close(): void;
}

export function eventChannel(): EventChannel {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'umdev-evt-'));
  const fifo = path.join(dir, 'fifo');
  try {
    execFileSync('mkfifo', [fifo]);
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`mkfifo failed (install coreutils): ${(e as Error).message}`);
  }
  const reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const fd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  let closed = false;
  return {
    fd,
    drain(): number {
      let signals = 0;
      const buf = Buffer.alloc(8 * 64);
      for (;;) {
        let n: number;
        try {
          n = fs.readSync(reader, buf, 0, buf.length, null);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EAGAIN') break;
          throw e;
        }
        if (n === 0) break;
        if (n % 8 !== 0) throw new Error(`partial eventfd write of ${n} bytes`);
        for (let i = 0; i < n; i += 8) {
          if (buf.readBigUInt64LE(i) !== 1n) throw new Error('eventfd write was not the value 1');
          signals += 1;
        }
      }
      return signals;
    },
    close(): void {
      if (closed) return;
      closed = true;
      fs.closeSync(reader);
      fs.rmSync(dir, { recursive: true, force: true });
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
