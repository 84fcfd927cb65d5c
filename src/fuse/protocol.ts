/**
 * Concepts: the numbers of the kernel FUSE protocol (include/uapi/linux/fuse.h) that umdev speaks. umdev answers INIT
 * as protocol 7.31, so every struct below has its 7.31 (full, non-compat) size. All fields are little-endian on the
 * machines umdev runs on (the kernel writes host order; x86-64 and arm64 are little-endian).
 */

/** The protocol version umdev replies with in INIT; the kernel adapts to it. */
export const FUSE_KERNEL_VERSION = 7;
export const FUSE_KERNEL_MINOR_VERSION = 31;
/** The node id of the mount root. */
export const FUSE_ROOT_ID = 1;

/** Opcodes (enum fuse_opcode). */
export const Op = {
  LOOKUP: 1,
  FORGET: 2,
  GETATTR: 3,
  SETATTR: 4,
  READLINK: 5,
  SYMLINK: 6,
  MKNOD: 8,
  MKDIR: 9,
  UNLINK: 10,
  RMDIR: 11,
  RENAME: 12,
  LINK: 13,
  OPEN: 14,
  READ: 15,
  WRITE: 16,
  STATFS: 17,
  RELEASE: 18,
  FSYNC: 20,
  SETXATTR: 21,
  GETXATTR: 22,
  LISTXATTR: 23,
  REMOVEXATTR: 24,
  FLUSH: 25,
  INIT: 26,
  OPENDIR: 27,
  READDIR: 28,
  RELEASEDIR: 29,
  FSYNCDIR: 30,
  ACCESS: 34,
  CREATE: 35,
  INTERRUPT: 36,
  DESTROY: 38,
  BATCH_FORGET: 42,
  READDIRPLUS: 44,
  RENAME2: 45,
  TMPFILE: 51,
} as const;

/** Opcode names by number (the `Op` table turned around). */
export const OP_NAMES: ReadonlyMap<number, string> = new Map<number, string>(Object.entries(Op).map(([name, code]) => [code, name]));

/** The name of an opcode for log lines (`LOOKUP`), or `opcode <n>` for one umdev does not know. */
export function opName(opcode: number): string {
  return OP_NAMES.get(opcode) ?? `opcode ${opcode}`;
}

/** Notification codes (enum fuse_notify_code), sent with `unique` 0 and the code in the error field. */
export const Notify = {
  INVAL_ENTRY: 3,
  DELETE: 6,
} as const;

/** INIT flags (fuse_init_in/out.flags). */
export const InitFlag = {
  ASYNC_READ: 1 << 0,
  ATOMIC_O_TRUNC: 1 << 3,
  BIG_WRITES: 1 << 5,
  DO_READDIRPLUS: 1 << 13,
  READDIRPLUS_AUTO: 1 << 14,
  MAX_PAGES: 1 << 22,
  /** The kernel keeps each symlink's target in its page cache (kernel 4.20+); READLINK comes once per node id. */
  CACHE_SYMLINKS: 1 << 23,
} as const;

/** fuse_open_out.open_flags. */
export const FOPEN_DIRECT_IO = 1 << 0;

/** fuse_setattr_in.valid bits. */
export const Fattr = {
  MODE: 1 << 0,
  UID: 1 << 1,
  GID: 1 << 2,
  SIZE: 1 << 3,
  ATIME: 1 << 4,
  MTIME: 1 << 5,
  FH: 1 << 6,
  ATIME_NOW: 1 << 7,
  MTIME_NOW: 1 << 8,
  LOCKOWNER: 1 << 9,
  CTIME: 1 << 10,
  KILL_SUIDGID: 1 << 11,
} as const;

/** File type bits of st_mode (S_IFMT family) and dirent types (DT_*). */
export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const DT_DIR = 4;
export const DT_REG = 8;
export const DT_LNK = 10;

/** Struct sizes in bytes for protocol 7.31. */
export const Size = {
  IN_HEADER: 40,
  OUT_HEADER: 16,
  ATTR: 88,
  ENTRY_OUT: 128,
  ATTR_OUT: 104,
  INIT_IN: 64,
  INIT_OUT: 64,
  OPEN_IN: 8,
  OPEN_OUT: 16,
  READ_IN: 40,
  WRITE_IN: 40,
  WRITE_OUT: 8,
  RELEASE_IN: 24,
  FLUSH_IN: 24,
  GETATTR_IN: 16,
  SETATTR_IN: 88,
  FORGET_IN: 8,
  BATCH_FORGET_IN: 8,
  FORGET_ONE: 16,
  ACCESS_IN: 8,
  INTERRUPT_IN: 8,
  STATFS_OUT: 80,
  DIRENT: 24,
  DIRENTPLUS: 152,
  NOTIFY_DELETE_OUT: 24,
  NOTIFY_INVAL_ENTRY_OUT: 16,
} as const;

/** Largest WRITE payload umdev accepts (INIT max_write) and READ it serves (mount option max_read). */
export const MAX_WRITE = 128 * 1024;
/** The device read buffer: a request is a header plus max_write payload; the kernel rejects smaller buffers. */
export const READ_BUFFER_SIZE = MAX_WRITE + 4096;

/** Rounds a variable-length record up to 8 bytes (FUSE_REC_ALIGN). */
export function align8(n: number): number {
  return (n + 7) & ~7;
}
