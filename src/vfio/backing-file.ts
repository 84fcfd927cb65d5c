/**
 * Concepts: a file a device works on (a disk's backing store), as its model sees it. The root opened it (`files` of
 * `pciParent`, checked to lie under the parent's configured directory, reached without a symlink, a regular file or
 * a block device) and handed the open file to wherever the device lives; a device host never opens a path. The
 * model gets this object, never the fd: reads, writes and flushes at byte positions, and the size the file had when
 * it was opened.
 *
 * I/O is synchronous (pread, pwrite, fdatasync) on the device's own thread. A device host serves one device, so a
 * slow disk delays that device alone; and a request served without a trip through the thread pool is what keeps
 * the per-request cost of a page-cache hit at a few microseconds. Every failure is `EIO` naming the position.
 *
 * Owned by the device's instance (`LocalInstance`): it closes the file when another replaces it and when the device
 * is removed. The model must not keep using a file after `closed` turns true.
 */
import fs from 'node:fs';
import { err } from '../errors.js';

/** What the root says of a file it opened for a device. Plain data (it travels to a device host as JSON). */
export interface FileInfo {
  /** Bytes in it when it was opened. */
  readonly size: number;
  readonly kind: 'file' | 'block';
  /** Opened read-only (the user may not write it): writes are refused. */
  readonly readOnly: boolean;
  /** What the user named, for log lines and the attribute (a path, or `default: <path>`). */
  readonly label: string;
}

/** An open backing file. See the module comment. */
export class BackingFile {
  readonly info: FileInfo;
  #fd: number;
  readonly #close: (fd: number) => void;

  /** Takes ownership of `fd`; `close` releases it (the native close, so a device host needs no fs.closeSync of its own). */
  constructor(fd: number, info: FileInfo, close: (fd: number) => void) {
    if (!Number.isSafeInteger(info.size) || info.size < 0) throw err('EINVAL', `a backing file of ${info.size} bytes`);
    this.#fd = fd;
    this.info = info;
    this.#close = close;
  }

  get size(): number {
    return this.info.size;
  }

  get readOnly(): boolean {
    return this.info.readOnly;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Fill `buf` from `position`; bytes past the end of the file read as zeros (a sparse image that was cut short). */
  read(buf: Buffer, position: number): void {
    const fd = this.#open();
    let done = 0;
    while (done < buf.length) {
      let n: number;
      try {
        n = fs.readSync(fd, buf, done, buf.length - done, position + done);
      } catch (e) {
        throw err('EIO', `read of ${buf.length} bytes at ${position} failed: ${(e as Error).message}`, e);
      }
      if (n === 0) {
        buf.fill(0, done);
        return;
      }
      done += n;
    }
  }

  /** Write all of `data` at `position`; EIO for a short write (a full file system) or a read-only file. */
  write(data: Buffer, position: number): void {
    const fd = this.#open();
    if (this.info.readOnly) throw err('EIO', 'the backing file is read-only');
    let done = 0;
    while (done < data.length) {
      let n: number;
      try {
        n = fs.writeSync(fd, data, done, data.length - done, position + done);
      } catch (e) {
        throw err('EIO', `write of ${data.length} bytes at ${position} failed: ${(e as Error).message}`, e);
      }
      if (n <= 0) throw err('EIO', `write at ${position}: the file took ${done} of ${data.length} bytes`);
      done += n;
    }
  }

  /** Make every write so far durable (fdatasync): what a guest's flush asks. */
  flush(): void {
    const fd = this.#open();
    try {
      fs.fdatasyncSync(fd);
    } catch (e) {
      throw err('EIO', `fdatasync failed: ${(e as Error).message}`, e);
    }
  }

  /** Release the fd. Idempotent. */
  close(): void {
    const fd = this.#fd;
    if (fd < 0) return;
    this.#fd = -1;
    this.#close(fd);
  }

  #open(): number {
    if (this.#fd < 0) throw err('EIO', 'the backing file was closed');
    return this.#fd;
  }
}
