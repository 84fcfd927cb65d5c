/**
 * Concepts: pure encoders and decoders for the FUSE structs umdev uses (layouts from include/uapi/linux/fuse.h, sizes
 * in `protocol.ts`). Encoders write into a caller-owned buffer at an offset and return the bytes written, so the
 * dispatcher can build replies in one preallocated buffer; decoders check the body length and throw `EINVAL` for a
 * short body. No I/O here.
 */
import { err } from '../errors.js';
import { Notify, S_IFLNK, S_IFMT, Size, align8 } from './protocol.js';

/** The fixed header of every request (struct fuse_in_header). */
export interface InHeader {
  readonly len: number;
  readonly opcode: number;
  readonly unique: number;
  readonly nodeid: number;
  readonly uid: number;
  readonly gid: number;
  readonly pid: number;
}

/** What umdev reports in a struct fuse_attr; the rest (rdev, blocks, flags) is always 0. */
export interface Attr {
  readonly ino: number;
  readonly size: number;
  /** Full st_mode: type bits and permission bits. */
  readonly mode: number;
  readonly nlink: number;
  /** One timestamp used for atime, mtime and ctime. */
  readonly timeSec: number;
  readonly timeNsec: number;
  /** Owner; 0 (root) when absent. */
  readonly uid?: number;
  readonly gid?: number;
}

/** struct fuse_init_out fields umdev sets. */
export interface InitOut {
  readonly major: number;
  readonly minor: number;
  readonly maxReadahead: number;
  readonly flags: number;
  readonly maxBackground: number;
  readonly congestionThreshold: number;
  readonly maxWrite: number;
  readonly timeGran: number;
  readonly maxPages: number;
}

/** struct fuse_setattr_in fields umdev looks at. */
export interface SetattrIn {
  readonly valid: number;
  readonly fh: number;
  readonly size: number;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

function need(bodyLen: number, size: number, what: string): void {
  if (bodyLen < size) throw err('EINVAL', `${what}: body of ${bodyLen} bytes, need ${size}`);
}

/** Reads a u64 that fits a double exactly (node ids, offsets, handles umdev hands out stay far below 2^53). */
export function readU64(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off) + buf.readUInt32LE(off + 4) * 0x1_0000_0000;
}

/** Writes a non-negative integer below 2^53 as a u64. */
export function writeU64(buf: Buffer, off: number, n: number): void {
  buf.writeUInt32LE(n >>> 0, off);
  buf.writeUInt32LE(Math.floor(n / 0x1_0000_0000) >>> 0, off + 4);
}

export function decodeInHeader(buf: Buffer, off = 0): InHeader {
  if (buf.length - off < Size.IN_HEADER) throw err('EINVAL', `request of ${buf.length - off} bytes is shorter than its header`);
  return {
    len: buf.readUInt32LE(off),
    opcode: buf.readUInt32LE(off + 4),
    unique: readU64(buf, off + 8),
    nodeid: readU64(buf, off + 16),
    uid: buf.readUInt32LE(off + 24),
    gid: buf.readUInt32LE(off + 28),
    pid: buf.readUInt32LE(off + 32),
  };
}

/** struct fuse_out_header: `error` is 0 or a negative errno (or, in a notification, the notify code). */
export function encodeOutHeader(buf: Buffer, off: number, len: number, error: number, unique: number): number {
  buf.writeUInt32LE(len, off);
  buf.writeInt32LE(error, off + 4);
  writeU64(buf, off + 8, unique);
  return Size.OUT_HEADER;
}

export function encodeAttr(buf: Buffer, off: number, a: Attr): number {
  writeU64(buf, off, a.ino);
  writeU64(buf, off + 8, a.size);
  writeU64(buf, off + 16, 0); // blocks: sysfs reports none
  writeU64(buf, off + 24, a.timeSec);
  writeU64(buf, off + 32, a.timeSec);
  writeU64(buf, off + 40, a.timeSec);
  buf.writeUInt32LE(a.timeNsec, off + 48);
  buf.writeUInt32LE(a.timeNsec, off + 52);
  buf.writeUInt32LE(a.timeNsec, off + 56);
  buf.writeUInt32LE(a.mode, off + 60);
  buf.writeUInt32LE(a.nlink, off + 64);
  buf.writeUInt32LE(a.uid ?? 0, off + 68);
  buf.writeUInt32LE(a.gid ?? 0, off + 72);
  buf.writeUInt32LE(0, off + 76); // rdev
  buf.writeUInt32LE(4096, off + 80); // blksize
  buf.writeUInt32LE(0, off + 84); // flags
  return Size.ATTR;
}

/**
 * How long the kernel may reuse a positive dentry without a LOOKUP. Safe because every removal is invalidated through
 * the channel before the change that caused it is answered (a FUSE write, an API request); a missing name is answered
 * with an error, which the kernel never caches.
 */
export const ENTRY_TIMEOUT_SEC = 1;

/**
 * How long the kernel may keep the attributes of a node of this st_mode. A symlink's cannot change under its node id
 * (its target, hence its size, is fixed per node id; a chown through the mount answers with the new owner), so it
 * keeps them as long as the entry. Everything else has timeout 0, so modes, owners, a directory's link count and
 * contents stay live.
 */
export function attrTimeoutSec(mode: number): number {
  return (mode & S_IFMT) === S_IFLNK ? ENTRY_TIMEOUT_SEC : 0;
}

/** struct fuse_entry_out with generation 0, entry timeout ENTRY_TIMEOUT_SEC for a node and 0 for none. */
export function encodeEntryOut(buf: Buffer, off: number, nodeid: number, a: Attr | undefined): number {
  if (a === undefined) {
    buf.fill(0, off, off + Size.ENTRY_OUT);
    writeU64(buf, off, nodeid);
    return Size.ENTRY_OUT;
  }
  writeU64(buf, off, nodeid);
  buf.fill(0, off + 8, off + 40); // generation, entry_valid, attr_valid, both nsec
  writeU64(buf, off + 16, ENTRY_TIMEOUT_SEC);
  writeU64(buf, off + 24, attrTimeoutSec(a.mode));
  encodeAttr(buf, off + 40, a);
  return Size.ENTRY_OUT;
}

/** struct fuse_attr_out, attr timeout by `attrTimeoutSec`. */
export function encodeAttrOut(buf: Buffer, off: number, a: Attr): number {
  buf.fill(0, off, off + 16);
  writeU64(buf, off, attrTimeoutSec(a.mode));
  encodeAttr(buf, off + 16, a);
  return Size.ATTR_OUT;
}

export function encodeOpenOut(buf: Buffer, off: number, fh: number, openFlags: number): number {
  writeU64(buf, off, fh);
  buf.writeUInt32LE(openFlags, off + 8);
  buf.writeUInt32LE(0, off + 12);
  return Size.OPEN_OUT;
}

export function encodeWriteOut(buf: Buffer, off: number, size: number): number {
  buf.writeUInt32LE(size, off);
  buf.writeUInt32LE(0, off + 4);
  return Size.WRITE_OUT;
}

export function encodeInitOut(buf: Buffer, off: number, o: InitOut): number {
  buf.fill(0, off, off + Size.INIT_OUT);
  buf.writeUInt32LE(o.major, off);
  buf.writeUInt32LE(o.minor, off + 4);
  buf.writeUInt32LE(o.maxReadahead, off + 8);
  buf.writeUInt32LE(o.flags >>> 0, off + 12);
  buf.writeUInt16LE(o.maxBackground, off + 16);
  buf.writeUInt16LE(o.congestionThreshold, off + 18);
  buf.writeUInt32LE(o.maxWrite, off + 20);
  buf.writeUInt32LE(o.timeGran, off + 24);
  buf.writeUInt16LE(o.maxPages, off + 28);
  // map_alignment (30), flags2 (32) and unused[7] stay 0.
  return Size.INIT_OUT;
}

/** struct fuse_statfs_out (a struct fuse_kstatfs) for a filesystem with no blocks, like sysfs. */
export function encodeStatfsOut(buf: Buffer, off: number, files: number): number {
  buf.fill(0, off, off + Size.STATFS_OUT);
  writeU64(buf, off + 24, files); // files
  buf.writeUInt32LE(4096, off + 40); // bsize
  buf.writeUInt32LE(255, off + 44); // namelen
  buf.writeUInt32LE(4096, off + 48); // frsize
  return Size.STATFS_OUT;
}

/**
 * One struct fuse_dirent, padded to 8 bytes. Returns 0 when it does not fit before `limit` (the READDIR size), which
 * ends the reply; `nextOff` is the offset the kernel passes back to continue after this entry.
 */
export function encodeDirent(buf: Buffer, off: number, limit: number, ino: number, nextOff: number, type: number, name: Buffer): number {
  const size = align8(Size.DIRENT + name.length);
  if (off + size > limit) return 0;
  writeU64(buf, off, ino);
  writeU64(buf, off + 8, nextOff);
  buf.writeUInt32LE(name.length, off + 16);
  buf.writeUInt32LE(type, off + 20);
  name.copy(buf, off + Size.DIRENT);
  buf.fill(0, off + Size.DIRENT + name.length, off + size);
  return size;
}

/**
 * One struct fuse_direntplus (entry_out, then dirent), padded to 8 bytes; 0 when it does not fit. A `nodeid` of 0
 * with no attr tells the kernel not to instantiate the entry (used for `.` and `..`); `direntIno` is the d_ino.
 */
export function encodeDirentplus(
  buf: Buffer,
  off: number,
  limit: number,
  nodeid: number,
  attr: Attr | undefined,
  direntIno: number,
  nextOff: number,
  type: number,
  name: Buffer,
): number {
  const size = align8(Size.DIRENTPLUS + name.length);
  if (off + size > limit) return 0;
  encodeEntryOut(buf, off, nodeid, attr);
  // entry_out is a multiple of 8 bytes, so the dirent after it is padded exactly as a plain one.
  encodeDirent(buf, off + Size.ENTRY_OUT, limit, direntIno, nextOff, type, name);
  return size;
}

/** A whole FUSE_NOTIFY_DELETE message: the kernel drops the dentry `name` under `parent` (child node `child`). */
export function encodeNotifyDelete(parent: number, child: number, name: Buffer): Buffer {
  const len = Size.OUT_HEADER + Size.NOTIFY_DELETE_OUT + name.length + 1;
  const buf = Buffer.alloc(len);
  encodeOutHeader(buf, 0, len, Notify.DELETE, 0);
  writeU64(buf, 16, parent);
  writeU64(buf, 24, child);
  buf.writeUInt32LE(name.length, 32);
  name.copy(buf, 40);
  return buf;
}

/** A whole FUSE_NOTIFY_INVAL_ENTRY message: the kernel forgets the (possibly negative) dentry `name` under `parent`. */
export function encodeNotifyInvalEntry(parent: number, name: Buffer): Buffer {
  const len = Size.OUT_HEADER + Size.NOTIFY_INVAL_ENTRY_OUT + name.length + 1;
  const buf = Buffer.alloc(len);
  encodeOutHeader(buf, 0, len, Notify.INVAL_ENTRY, 0);
  writeU64(buf, 16, parent);
  buf.writeUInt32LE(name.length, 24);
  name.copy(buf, 32);
  return buf;
}

/** struct fuse_init_in: the kernel's version and flags. */
export function decodeInitIn(buf: Buffer, off: number, bodyLen: number): { major: number; minor: number; maxReadahead: number; flags: number } {
  need(bodyLen, 16, 'INIT');
  return {
    major: buf.readUInt32LE(off),
    minor: buf.readUInt32LE(off + 4),
    maxReadahead: buf.readUInt32LE(off + 8),
    flags: buf.readUInt32LE(off + 12),
  };
}

/** A NUL-terminated name (LOOKUP, CREATE, …); the terminator is required. */
export function decodeName(buf: Buffer, off: number, bodyLen: number): string {
  const end = buf.indexOf(0, off);
  if (end < 0 || end >= off + bodyLen) throw err('EINVAL', 'name without NUL terminator');
  return buf.toString('utf8', off, end);
}

/** fuse_open_in.flags (the open(2) flags). */
export function decodeOpenIn(buf: Buffer, off: number, bodyLen: number): number {
  need(bodyLen, Size.OPEN_IN, 'OPEN');
  return buf.readUInt32LE(off);
}

/** struct fuse_read_in (also READDIR): handle, offset, size. */
export function decodeReadIn(buf: Buffer, off: number, bodyLen: number): { fh: number; offset: number; size: number } {
  need(bodyLen, 24, 'READ');
  return { fh: readU64(buf, off), offset: readU64(buf, off + 8), size: buf.readUInt32LE(off + 16) };
}

/** struct fuse_write_in; the data follows at `off + Size.WRITE_IN`. */
export function decodeWriteIn(buf: Buffer, off: number, bodyLen: number): { fh: number; offset: number; size: number } {
  need(bodyLen, Size.WRITE_IN, 'WRITE');
  const size = buf.readUInt32LE(off + 16);
  need(bodyLen, Size.WRITE_IN + size, 'WRITE data');
  return { fh: readU64(buf, off), offset: readU64(buf, off + 8), size };
}

/** The handle of RELEASE, RELEASEDIR and FLUSH. */
export function decodeFh(buf: Buffer, off: number, bodyLen: number): number {
  need(bodyLen, 8, 'file handle');
  return readU64(buf, off);
}

export function decodeSetattrIn(buf: Buffer, off: number, bodyLen: number): SetattrIn {
  need(bodyLen, Size.SETATTR_IN, 'SETATTR');
  return {
    valid: buf.readUInt32LE(off),
    fh: readU64(buf, off + 8),
    size: readU64(buf, off + 16),
    mode: buf.readUInt32LE(off + 68),
    uid: buf.readUInt32LE(off + 76),
    gid: buf.readUInt32LE(off + 80),
  };
}

/** fuse_forget_in.nlookup. */
export function decodeForgetIn(buf: Buffer, off: number, bodyLen: number): number {
  need(bodyLen, Size.FORGET_IN, 'FORGET');
  return readU64(buf, off);
}

/** struct fuse_batch_forget_in and its fuse_forget_one records, as [nodeid, nlookup] pairs. */
export function decodeBatchForget(buf: Buffer, off: number, bodyLen: number): [number, number][] {
  need(bodyLen, Size.BATCH_FORGET_IN, 'BATCH_FORGET');
  const count = buf.readUInt32LE(off);
  need(bodyLen, Size.BATCH_FORGET_IN + count * Size.FORGET_ONE, 'BATCH_FORGET records');
  const out: [number, number][] = [];
  for (let i = 0; i < count; i++) {
    const p = off + Size.BATCH_FORGET_IN + i * Size.FORGET_ONE;
    out.push([readU64(buf, p), readU64(buf, p + 8)]);
  }
  return out;
}

/** fuse_access_in.mask (R_OK 4, W_OK 2, X_OK 1). */
export function decodeAccessIn(buf: Buffer, off: number, bodyLen: number): number {
  need(bodyLen, Size.ACCESS_IN, 'ACCESS');
  return buf.readUInt32LE(off);
}
