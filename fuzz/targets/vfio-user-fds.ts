/**
 * Fds of every kind a hostile vfio-user client can attach: memfds of wrong sizes (sealed or not), eventfds (blocking,
 * full), socket ends, both ends of a pipe, a regular file, a directory, /dev/null. The caller sends them and closes
 * its copies with `closeAll`.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Seal, native } from '../../src/native/index.js';
import type { Rng } from '../rng.js';

const SIZES = [0, 0x1000, 0x2000, 0x10000, 0x100000];

/** Owns a temp dir with a FIFO (and its keep-alive reader) and a regular file; `dispose()` removes them. */
export class FdFactory {
  readonly #dir = mkdtempSync(join(tmpdir(), 'umdev-fuzz-fds-'));
  readonly #fifo = join(this.#dir, 'fifo');
  readonly #file = join(this.#dir, 'file');
  readonly #reader: number;

  constructor() {
    execFileSync('mkfifo', [this.#fifo]);
    writeFileSync(this.#file, Buffer.alloc(0x3000));
    // Keeps a reader open so a non-blocking open of the write end succeeds.
    this.#reader = openSync(this.#fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  }

  /** A memfd of `size` bytes, sealed against shrinking and growing when `sealed`. */
  memfd(size: number, sealed: boolean): number {
    return native.memfdCreate('fuzz', size, sealed ? Seal.SHRINK | Seal.GROW : undefined);
  }

  /** One fd of a random kind. */
  any(rng: Rng): number {
    switch (rng.int(9)) {
      case 0:
      case 1:
        return this.memfd(rng.pick(SIZES), rng.chance(0.5));
      case 2: {
        const fd = native.eventfd(0, { nonblock: rng.chance(0.5) });
        if (rng.chance(0.3)) native.eventfdWrite(fd, 0xfffffffffffffffen);
        return fd;
      }
      case 3: {
        const [a, b] = native.socketpair();
        native.close(b);
        return a;
      }
      case 4:
        return openSync(this.#fifo, constants.O_RDONLY | constants.O_NONBLOCK);
      case 5:
        return openSync(this.#fifo, constants.O_WRONLY | constants.O_NONBLOCK);
      case 6:
        return openSync(this.#file, rng.chance(0.5) ? 'r' : 'r+');
      case 7:
        return openSync(this.#dir, constants.O_RDONLY);
      default:
        return openSync('/dev/null', 'r+');
    }
  }

  dispose(): void {
    closeSync(this.#reader);
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

export function closeAll(fds: readonly number[]): void {
  for (const fd of fds) {
    try {
      native.close(fd);
    } catch {
      // already gone
    }
  }
}
