/**
 * Concepts: how the definitions code and the CLI read files. `readToString` reads a small text file as mdevctl does
 * (`fs::read_to_string`), with its error texts: an os error, or "stream did not contain valid UTF-8". It reads until
 * `read(2)` returns 0 without asking the size first: sysfs sizes say nothing, and on a FUSE mount each `fstat` is one
 * more round trip to the daemon.
 *
 * The reads (`fileReads()`) go through libuv's thread pool, because the file may be on a FUSE mount served by this
 * very process (umdevd reads its own tree; tests run the CLI in-process against one). A process that is one CLI run
 * and nothing else calls `readInline()`: its reads become plain system calls on the main thread, still answered as
 * promises, which saves a listing a thread round trip (and an event-loop wakeup) per file operation.
 */
import { closeSync, lstatSync, opendirSync, openSync, readSync, realpathSync, statSync, type Stats } from 'node:fs';
import { lstat, open, opendir, realpath, stat } from 'node:fs/promises';
import { fail, osError } from './failure.js';

/** The file operations behind every read; errors are Node's (`code` is the errno name). */
export interface FileReads {
  stat(p: string): Promise<Stats>;
  lstat(p: string): Promise<Stats>;
  /** realpath(3). */
  realpath(p: string): Promise<string>;
  /** Entry names in getdents order (`fs.readdir` would sort them; mdevctl sees them unsorted). */
  dirNames(p: string): Promise<string[]>;
  /** The whole file. */
  bytes(p: string): Promise<Buffer>;
}

/** A sysfs attribute is at most a page; a longer file takes more reads. */
const CHUNK = 4096;

const POOLED: FileReads = {
  stat: (p) => stat(p),
  lstat: (p) => lstat(p),
  realpath: (p) => realpath(p),
  async dirNames(p) {
    const names: string[] = [];
    for await (const d of await opendir(p)) names.push(d.name);
    return names;
  },
  async bytes(p) {
    const fh = await open(p, 'r');
    try {
      const chunks: Buffer[] = [];
      for (;;) {
        const chunk = Buffer.allocUnsafe(CHUNK);
        const { bytesRead } = await fh.read(chunk, 0, CHUNK, null);
        if (bytesRead === 0) return Buffer.concat(chunks);
        chunks.push(chunk.subarray(0, bytesRead));
      }
    } finally {
      await fh.close();
    }
  },
};

/** The same operations as system calls on this thread. */
function inline(): FileReads {
  const now = <T>(f: () => T): Promise<T> => {
    try {
      return Promise.resolve(f());
    } catch (e) {
      return Promise.reject(e);
    }
  };
  return {
    stat: (p) => now(() => statSync(p)),
    lstat: (p) => now(() => lstatSync(p)),
    realpath: (p) => now(() => realpathSync.native(p)),
    dirNames: (p) =>
      now(() => {
        const dir = opendirSync(p);
        try {
          const names: string[] = [];
          for (let d = dir.readSync(); d !== null; d = dir.readSync()) names.push(d.name);
          return names;
        } finally {
          dir.closeSync();
        }
      }),
    bytes: (p) =>
      now(() => {
        const fd = openSync(p, 'r');
        try {
          const chunks: Buffer[] = [];
          for (;;) {
            const chunk = Buffer.allocUnsafe(CHUNK);
            const n = readSync(fd, chunk, 0, CHUNK, null);
            if (n === 0) return Buffer.concat(chunks);
            chunks.push(chunk.subarray(0, n));
          }
        } finally {
          closeSync(fd);
        }
      }),
  };
}

let reads = POOLED;

/** The reads this process makes. */
export function fileReads(): FileReads {
  return reads;
}

/** Makes this process's reads synchronous; only for a process that never serves a FUSE mount itself (a CLI run). */
export function readInline(): void {
  reads = inline();
}

/** `fs::read_to_string`: the whole file, which must be UTF-8. */
export async function readToString(p: string): Promise<string> {
  let buf: Buffer;
  try {
    buf = await reads.bytes(p);
  } catch (e) {
    throw osError(e);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(buf);
  } catch {
    throw fail('EINVAL', 'stream did not contain valid UTF-8');
  }
}
