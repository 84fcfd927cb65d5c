/**
 * Concepts: one FUSE session over an `AttrTree`. `handle()` takes one request buffer and answers it through the
 * `FuseReplier`; paths are resolved through the tree on every request (nothing about nodes is cached), node ids come
 * from the `InodeTable`, and open handles keep only a path plus, for files, the value rendered by the last read at
 * offset 0 (so a read loop ends). Semantics follow kernfs: attribute timeouts are 0 and a missing name is never
 * cached; a found entry is cached for ENTRY_TIMEOUT_SEC, kept true by invalidating each removed node before the write
 * that removed it is answered (other removers wait on the channel's `drained()`). The kernel also keeps each
 * symlink's target for the life of its node id (FUSE_CACHE_SYMLINKS), so a node id stands for one target: a removed
 * link's id dies with it, and a link found pointing elsewhere gets a new id (`InodeTable.ref`). Files are 4096 bytes
 * long and direct-I/O, an open the mode forbids fails with EACCES even for root, nothing can be created (EACCES, as
 * an O_CREAT open in a directory without `create`) nor made, removed or renamed (EPERM, as the VFS and kernfs answer
 * mkdir, unlink, rmdir, rename, symlink, link and mknod there). chmod and chown by root or the owner stick until the
 * node is removed: the dispatcher keeps them per path (`Meta`), the one piece of node state that belongs to the
 * filesystem rather than to the tree. Replies are built in one preallocated buffer and written synchronously; `show`/`store` that return a
 * promise complete later without holding up other requests.
 */
import { performance } from 'node:perf_hooks';
import { isUmdevError, err } from '../errors.js';
import type { AttrFile, AttrNode, AttrTree } from './attr-tree.js';
import type { FuseReplier } from './channel.js';
import {
  type Attr,
  decodeAccessIn,
  decodeBatchForget,
  decodeFh,
  decodeForgetIn,
  decodeInitIn,
  decodeName,
  decodeOpenIn,
  decodeReadIn,
  decodeSetattrIn,
  decodeWriteIn,
  encodeAttrOut,
  encodeEntryOut,
  encodeInitOut,
  encodeNotifyDelete,
  encodeNotifyInvalEntry,
  encodeOpenOut,
  encodeOutHeader,
  encodeStatfsOut,
  encodeWriteOut,
  readU64,
} from './codec.js';
import { type Inode, InodeTable, linkTarget } from './inodes.js';
import { type Meta, type Owner, R_OK, ROOT_OWNER, W_OK, X_OK, checkFileAccess, metaOwner, nodeAttr, permits, withMeta } from './node-access.js';
import { encodeDirectory } from './readdir.js';
import { FOPEN_DIRECT_IO, Fattr, FUSE_KERNEL_MINOR_VERSION, FUSE_KERNEL_VERSION, InitFlag, MAX_WRITE, OP_NAMES, Op, Size, opName } from './protocol.js';
import type { FuseStats } from './stats.js';

/** Where the dispatcher reports bugs (non-`UmdevError` exceptions, with their stack); lines carry no `fuse:` prefix. */
export type FuseLogger = (level: 'debug' | 'error', message: string) => void;

/** An open file or directory. Owned by the dispatcher from OPEN/OPENDIR until RELEASE/RELEASEDIR. */
interface Handle {
  readonly path: readonly string[];
  readonly ino: number;
  /** Files: the value rendered by the last read at offset 0. */
  value: Buffer | undefined;
  /** Directories: the entries listed by the last READDIR at offset 0. */
  entries: readonly { readonly name: string; readonly kind: AttrNode['kind'] }[] | undefined;
}

const O_ACCMODE = 3;
const O_WRONLY = 1;
const O_RDWR = 2;

/** Operations that would make, remove or rename a node: an attribute tree has none, and sysfs answers EPERM. */
const NO_CHANGE = new Set<number>([Op.MKNOD, Op.MKDIR, Op.UNLINK, Op.RMDIR, Op.SYMLINK, Op.RENAME, Op.RENAME2, Op.LINK, Op.TMPFILE]);

/** Serves one attribute tree to one kernel connection; `close()` unsubscribes from the tree, nothing else. */
export class FuseDispatcher {
  readonly #tree: AttrTree;
  readonly #out: FuseReplier;
  readonly #log: FuseLogger;
  readonly #inodes = new InodeTable();
  readonly #handles = new Map<number, Handle>();
  /** Reply buffer: header plus the largest body (a READ of max_write bytes). Used only between encode and reply(). */
  readonly #buf = Buffer.alloc(Size.OUT_HEADER + MAX_WRITE + 4096);
  readonly #timeSec = Math.floor(Date.now() / 1000);
  readonly #unsubscribe: (() => void) | undefined;
  readonly #owner: Owner;
  /** Where requests are counted (the tree's `requestStats`); absent: nothing is timed. */
  readonly #stats: FuseStats | undefined;
  /** The request `handle` is running now and when it began; reset to -1 once it is answered. */
  #current = -1;
  #currentOp = 0;
  #currentAt = 0;
  /** Requests answered after `handle` returned (an async `show` or `store`): when each began, by unique. */
  readonly #pendingAt = new Map<number, { readonly op: string; readonly at: number }>();
  /** chmod/chown results by path key; dropped when the tree reports the path (or a parent) removed. */
  readonly #meta = new Map<string, Meta>();
  #nextFh = 1;
  /** Invalidations sent so far; a write that changes it waits for them to reach the kernel before it is answered. */
  #invalidations = 0;

  /** `owner` owns every node (see node-access.ts); root unless the server runs as another user. */
  constructor(tree: AttrTree, out: FuseReplier, log: FuseLogger, owner: Owner = ROOT_OWNER) {
    this.#tree = tree;
    this.#out = out;
    this.#log = log;
    this.#owner = owner;
    this.#stats = tree.requestStats;
    this.#unsubscribe = tree.onChange?.((change) => {
      if (change.kind === 'remove') this.#removed(change.path);
    });
  }

  /** Node ids the kernel holds (root included); for tests that check FORGET bookkeeping. */
  get inodeCount(): number {
    return this.#inodes.size;
  }

  /** Open handles; for tests that check RELEASE bookkeeping. */
  get handleCount(): number {
    return this.#handles.size;
  }

  /** Stops listening to the tree. */
  close(): void {
    this.#unsubscribe?.();
  }

  /** Handles one request; `req` is only read during the call. Never throws. */
  handle(req: Buffer): void {
    if (req.length < Size.IN_HEADER) {
      this.#log('error', `dropped a ${req.length}-byte request shorter than its header`);
      return;
    }
    const opcode = req.readUInt32LE(4);
    const unique = readU64(req, 8);
    const stats = this.#stats;
    if (stats !== undefined) {
      this.#current = unique;
      this.#currentOp = opcode;
      this.#currentAt = performance.now();
    }
    try {
      this.#dispatch(req, opcode, unique, readU64(req, 16), Math.min(req.readUInt32LE(0), req.length) - Size.IN_HEADER);
    } catch (e) {
      if (opcode !== Op.FORGET && opcode !== Op.BATCH_FORGET && opcode !== Op.INTERRUPT) this.#fail(unique, opcode, e);
    }
    if (stats === undefined || this.#current !== unique) return;
    this.#current = -1;
    const op = OP_NAMES.get(opcode) ?? 'other';
    if (opcode === Op.FORGET || opcode === Op.BATCH_FORGET || opcode === Op.INTERRUPT) {
      stats.observe(op, undefined, false);
      return;
    }
    // Answered later; a request the kernel gave up on may never be, so the map is bounded (it only feeds statistics).
    if (this.#pendingAt.size >= 4096) this.#pendingAt.clear();
    this.#pendingAt.set(unique, { op, at: this.#currentAt });
  }

  /** A reply to `unique` went out: time it from when its request was read. */
  #answered(unique: number, opcode: number | undefined, failed: boolean): void {
    const stats = this.#stats;
    if (stats === undefined) return;
    const now = performance.now();
    if (unique === this.#current) {
      this.#current = -1;
      stats.observe(opcode === undefined ? 'other' : (OP_NAMES.get(opcode) ?? 'other'), (now - this.#currentAt) / 1000, failed);
      return;
    }
    const p = this.#pendingAt.get(unique);
    if (p === undefined) return;
    this.#pendingAt.delete(unique);
    stats.observe(p.op, (now - p.at) / 1000, failed);
  }

  #dispatch(req: Buffer, opcode: number, unique: number, nodeid: number, bodyLen: number): void {
    const off = Size.IN_HEADER;
    switch (opcode) {
      case Op.LOOKUP:
        return this.#lookup(unique, nodeid, decodeName(req, off, bodyLen), req.readUInt32LE(24), req.readUInt32LE(28));
      case Op.GETATTR:
        return this.#replyAttr(unique, this.#inode(nodeid));
      case Op.OPEN:
        return this.#open(unique, nodeid, decodeOpenIn(req, off, bodyLen), req.readUInt32LE(24), req.readUInt32LE(28));
      case Op.READ: {
        const r = decodeReadIn(req, off, bodyLen);
        return this.#read(unique, r.fh, r.offset, r.size);
      }
      case Op.WRITE: {
        const w = decodeWriteIn(req, off, bodyLen);
        // Copied: the channel reuses `req`, and a store may keep or await with its argument.
        return this.#write(unique, w.fh, Buffer.from(req.subarray(off + Size.WRITE_IN, off + Size.WRITE_IN + w.size)));
      }
      case Op.RELEASE:
      case Op.RELEASEDIR:
        this.#handles.delete(decodeFh(req, off, bodyLen));
        return this.#reply(unique, 0);
      case Op.FLUSH:
        // ENOSYS makes the kernel stop sending FLUSH for the life of the mount; nothing is buffered here anyway.
        throw err('ENOSYS', 'FLUSH is not needed');
      case Op.SETATTR:
        return this.#setattr(unique, nodeid, req, bodyLen);
      case Op.OPENDIR:
        return this.#opendir(unique, nodeid);
      case Op.READDIR:
      case Op.READDIRPLUS: {
        const r = decodeReadIn(req, off, bodyLen);
        return this.#readdir(unique, r.fh, r.offset, r.size, opcode === Op.READDIRPLUS);
      }
      case Op.READLINK:
        return this.#readlink(unique, nodeid);
      case Op.ACCESS:
        return this.#access(unique, nodeid, decodeAccessIn(req, off, bodyLen), req.readUInt32LE(24), req.readUInt32LE(28));
      case Op.STATFS:
        encodeStatfsOut(this.#buf, Size.OUT_HEADER, this.#inodes.size);
        return this.#reply(unique, Size.STATFS_OUT);
      case Op.FORGET:
        return this.#inodes.forget(nodeid, decodeForgetIn(req, off, bodyLen));
      case Op.BATCH_FORGET:
        for (const [ino, n] of decodeBatchForget(req, off, bodyLen)) this.#inodes.forget(ino, n);
        return;
      case Op.INTERRUPT:
        // Every request is answered promptly; an interrupted one just gets its reply dropped by the kernel.
        return;
      case Op.INIT:
        return this.#init(unique, req, bodyLen);
      case Op.DESTROY:
        return this.#reply(unique, 0);
      default:
        if (opcode === Op.CREATE) throw err('EACCES', 'attribute trees have no create');
        if (NO_CHANGE.has(opcode)) throw err('EPERM', 'attribute trees have no mkdir, remove or rename');
        throw err('ENOSYS', `opcode ${opcode} is not implemented`);
    }
  }

  #init(unique: number, req: Buffer, bodyLen: number): void {
    const kernel = decodeInitIn(req, Size.IN_HEADER, bodyLen);
    if (kernel.major < FUSE_KERNEL_VERSION) throw err('EPROTO', `kernel FUSE protocol ${kernel.major}.${kernel.minor} is too old`);
    const wanted =
      InitFlag.ASYNC_READ |
      InitFlag.BIG_WRITES |
      InitFlag.MAX_PAGES |
      InitFlag.ATOMIC_O_TRUNC |
      InitFlag.DO_READDIRPLUS |
      InitFlag.READDIRPLUS_AUTO |
      InitFlag.CACHE_SYMLINKS;
    encodeInitOut(this.#buf, Size.OUT_HEADER, {
      major: FUSE_KERNEL_VERSION,
      minor: FUSE_KERNEL_MINOR_VERSION,
      maxReadahead: kernel.maxReadahead,
      flags: kernel.flags & wanted,
      maxBackground: 16,
      congestionThreshold: 12,
      maxWrite: MAX_WRITE,
      timeGran: 1,
      maxPages: MAX_WRITE / 4096,
    });
    this.#reply(unique, Size.INIT_OUT);
  }

  #lookup(unique: number, parent: number, name: string, uid: number, gid: number): void {
    const dir = this.#inode(parent);
    const parentNode = this.#resolve(dir);
    if (parentNode.kind !== 'dir') throw err('ENOTDIR', `${dir.key} is not a directory`);
    if (!permits(parentNode.mode, uid, gid, X_OK, this.#owner)) throw err('EACCES', `${dir.key} is not searchable`);
    const path = [...dir.path, name];
    const node = this.#tree.resolve(path);
    if (node === undefined) throw err('ENOENT', `no ${path.join('/')}`);
    const inode = this.#inodes.ref(path, linkTarget(node));
    encodeEntryOut(this.#buf, Size.OUT_HEADER, inode.ino, this.attrOf(inode.ino, node, path));
    this.#reply(unique, Size.ENTRY_OUT);
  }

  #replyAttr(unique: number, inode: Inode): void {
    encodeAttrOut(this.#buf, Size.OUT_HEADER, this.attrOf(inode.ino, this.#resolve(inode), inode.path));
    this.#reply(unique, Size.ATTR_OUT);
  }

  #setattr(unique: number, nodeid: number, req: Buffer, bodyLen: number): void {
    const inode = this.#inode(nodeid);
    const meta = this.#meta.get(inode.key);
    const node = withMeta(this.#resolve(inode), meta);
    const s = decodeSetattrIn(req, Size.IN_HEADER, bodyLen);
    // Validated before anything changes, so a refused truncate never leaves a half-applied chmod behind.
    if (s.valid & Fattr.SIZE) {
      if (node.kind !== 'file') throw err(node.kind === 'dir' ? 'EISDIR' : 'EINVAL', 'only attribute files can be truncated');
      if (node.store === undefined || (node.mode & 0o222) === 0) throw err('EACCES', 'attribute is read-only');
    }
    if (s.valid & (Fattr.MODE | Fattr.UID | Fattr.GID)) this.#chattr(inode, meta, s, req.readUInt32LE(24));
    // Truncation (open with O_TRUNC, `: > attr`) is a no-op on a writable attribute: each write replaces the value.
    // Time changes (touch) succeed without effect, as the times are the server's start time.
    this.#replyAttr(unique, inode);
  }

  /**
   * chmod/chown as kernfs allows them (`kernfs_iop_setattr` after `setattr_prepare`): the owner or root may change
   * the mode, only root the owner. What changes is what is shown and checked from then on; the tree's `show` and
   * `store` stay what they are, so a chmod can take a capability away but never add one.
   */
  #chattr(inode: Inode, meta: Meta | undefined, s: { valid: number; mode: number; uid: number; gid: number }, caller: number): void {
    const owner = metaOwner(this.#owner, meta);
    if (s.valid & (Fattr.UID | Fattr.GID) && caller !== 0) throw err('EPERM', `${inode.key}: only root may chown`);
    if (s.valid & Fattr.MODE && caller !== 0 && caller !== owner.uid) throw err('EPERM', `${inode.key}: not the owner`);
    const next: { mode?: number; uid?: number; gid?: number } = { ...meta };
    if (s.valid & Fattr.MODE) next.mode = s.mode & 0o7777;
    if (s.valid & Fattr.UID) next.uid = s.uid;
    if (s.valid & Fattr.GID) next.gid = s.gid;
    this.#meta.set(inode.key, next);
  }

  #open(unique: number, nodeid: number, flags: number, uid: number, gid: number): void {
    const inode = this.#inode(nodeid);
    const meta = this.#meta.get(inode.key);
    const node = withMeta(this.#resolve(inode), meta);
    if (node.kind === 'dir') throw err('EISDIR', `${inode.key} is a directory`);
    if (node.kind !== 'file') throw err('EINVAL', 'symlinks are resolved by the kernel');
    const acc = flags & O_ACCMODE;
    const wantsWrite = acc === O_WRONLY || acc === O_RDWR;
    const wantsRead = acc !== O_WRONLY;
    checkFileAccess(inode.key, node, (wantsRead ? R_OK : 0) | (wantsWrite ? W_OK : 0), uid, gid, metaOwner(this.#owner, meta));
    const fh = this.#nextFh++;
    this.#handles.set(fh, { path: inode.path, ino: inode.ino, value: undefined, entries: undefined });
    encodeOpenOut(this.#buf, Size.OUT_HEADER, fh, FOPEN_DIRECT_IO);
    this.#reply(unique, Size.OPEN_OUT);
  }

  #read(unique: number, fh: number, offset: number, size: number): void {
    const h = this.#handle(fh);
    if (offset !== 0 && h.value !== undefined) return this.#replyData(unique, h.value, offset, size);
    const file = this.#file(h);
    if (file.show === undefined) throw err('EACCES', 'attribute is not readable');
    const shown = file.show();
    if (shown instanceof Promise) {
      shown.then(
        (v) => this.#settle(unique, Op.READ, () => this.#finishRead(unique, h, v, offset, size)),
        (e: unknown) => this.#fail(unique, Op.READ, e),
      );
      return;
    }
    this.#finishRead(unique, h, shown, offset, size);
  }

  #finishRead(unique: number, h: Handle, shown: unknown, offset: number, size: number): void {
    const value = typeof shown === 'string' ? Buffer.from(shown) : shown;
    if (!Buffer.isBuffer(value)) throw new TypeError(`show() of ${h.path.join('/')} returned neither a string nor a Buffer`);
    h.value = value;
    this.#replyData(unique, value, offset, size);
  }

  /** Runs the rest of an async request; anything it throws becomes that request's error reply, never a rejection. */
  #settle(unique: number, opcode: number, finish: () => void): void {
    try {
      finish();
    } catch (e) {
      this.#fail(unique, opcode, e);
    }
  }

  #replyData(unique: number, value: Buffer, offset: number, size: number): void {
    const n = Math.max(0, Math.min(size, value.length - offset, MAX_WRITE));
    if (n > 0) value.copy(this.#buf, Size.OUT_HEADER, offset, offset + n);
    this.#reply(unique, n);
  }

  #write(unique: number, fh: number, data: Buffer): void {
    const h = this.#handle(fh);
    const file = this.#file(h);
    if (file.store === undefined) throw err('EACCES', 'attribute is not writable');
    const before = this.#invalidations;
    const stored = file.store(data);
    if (stored instanceof Promise) {
      stored.then(
        () => this.#settle(unique, Op.WRITE, () => this.#finishWrite(unique, data.length, before)),
        (e: unknown) => this.#fail(unique, Op.WRITE, e),
      );
      return;
    }
    this.#finishWrite(unique, data.length, before);
  }

  /**
   * Answers a write; one that removed nodes (`remove`, `unbind`, …) is answered only once the kernel has dropped their
   * dentries, so they are gone when the write returns, as on kernfs, and a cached entry never outlives its node.
   * Waiting does not block this thread: the lookups an invalidation may wait on are served meanwhile.
   */
  #finishWrite(unique: number, count: number, invalidationsBefore: number): void {
    if (this.#invalidations !== invalidationsBefore) {
      this.#out.drained().then(() => this.#finishWrite(unique, count, this.#invalidations));
      return;
    }
    encodeWriteOut(this.#buf, Size.OUT_HEADER, count);
    this.#reply(unique, Size.WRITE_OUT);
  }

  #opendir(unique: number, nodeid: number): void {
    const inode = this.#inode(nodeid);
    if (this.#resolve(inode).kind !== 'dir') throw err('ENOTDIR', `${inode.key} is not a directory`);
    const fh = this.#nextFh++;
    this.#handles.set(fh, { path: inode.path, ino: inode.ino, value: undefined, entries: undefined });
    encodeOpenOut(this.#buf, Size.OUT_HEADER, fh, 0);
    this.#reply(unique, Size.OPEN_OUT);
  }

  #readdir(unique: number, fh: number, offset: number, size: number, plus: boolean): void {
    const h = this.#handle(fh);
    if (offset === 0 || h.entries === undefined) {
      const dir = this.#tree.resolve(h.path);
      if (dir === undefined || dir.kind !== 'dir') throw err('ENOENT', `${h.path.join('/')} was removed`);
      h.entries = dir.entries();
    }
    const parentIno = h.path.length === 0 ? h.ino : (this.#inodes.find(h.path.slice(0, -1))?.ino ?? 1);
    const n = encodeDirectory(this.#buf, Size.OUT_HEADER, Math.min(size, MAX_WRITE), {
      path: h.path,
      ino: h.ino,
      parentIno,
      entries: h.entries,
      offset,
      plus,
      tree: this.#tree,
      inodes: this.#inodes,
      attrOf: (ino, node, path) => this.attrOf(ino, node, path),
    });
    this.#reply(unique, n);
  }

  #readlink(unique: number, nodeid: number): void {
    const inode = this.#inode(nodeid);
    const node = this.#resolve(inode);
    if (node.kind !== 'symlink') throw err('EINVAL', `${inode.key} is not a symlink`);
    if (node.target !== inode.target) {
      // Re-pointed under this node id without a removal: this incarnation is gone; the next lookup gets a new id.
      this.#inodes.detach(inode.path);
      throw err('ENOENT', `${inode.key} now points elsewhere`);
    }
    const n = this.#buf.write(node.target, Size.OUT_HEADER);
    this.#reply(unique, n);
  }

  #access(unique: number, nodeid: number, mask: number, uid: number, gid: number): void {
    const inode = this.#inode(nodeid);
    const meta = this.#meta.get(inode.key);
    const node = withMeta(this.#resolve(inode), meta);
    const owner = metaOwner(this.#owner, meta);
    if (node.kind === 'file') checkFileAccess(inode.key, node, mask & (R_OK | W_OK | X_OK), uid, gid, owner);
    else if (node.kind === 'dir' && !permits(node.mode, uid, gid, mask & (R_OK | W_OK | X_OK), owner)) throw err('EACCES', `${inode.key}: access denied`);
    this.#reply(unique, 0);
  }

  /** The attributes the kernel sees for the node at `path`, chmod/chown applied; public for the directory encoder. */
  attrOf(ino: number, node: AttrNode, path: readonly string[]): Attr {
    const meta = this.#meta.size === 0 ? undefined : this.#meta.get(path.join('/'));
    return nodeAttr(ino, withMeta(node, meta), this.#timeSec, metaOwner(this.#owner, meta));
  }

  #inode(nodeid: number): Inode {
    const inode = this.#inodes.get(nodeid);
    if (inode === undefined || inode.detached) throw err('ENOENT', `node ${nodeid} is gone`);
    return inode;
  }

  #resolve(inode: Inode): AttrNode {
    const node = this.#tree.resolve(inode.path);
    if (node === undefined) throw err('ENOENT', `${inode.key} is gone`);
    return node;
  }

  #handle(fh: number): Handle {
    const h = this.#handles.get(fh);
    if (h === undefined) throw err('EBADF', `no open handle ${fh}`);
    return h;
  }

  /** The file an open handle names now; ENODEV once it is gone, as kernfs answers for a removed attribute. */
  #file(h: Handle): AttrFile {
    const node = this.#tree.resolve(h.path);
    if (node === undefined || node.kind !== 'file') throw err('ENODEV', `${h.path.join('/')} was removed`);
    return node;
  }

  /** A removal in the tree: forget the path's node ids and tell the kernel to drop its dentry. */
  #removed(path: readonly string[]): void {
    if (path.length === 0) return;
    if (this.#meta.size > 0) {
      // A node made again at this path starts with the tree's mode, as a new kernfs node does.
      const key = path.join('/');
      for (const k of this.#meta.keys()) if (k === key || k.startsWith(`${key}/`)) this.#meta.delete(k);
    }
    const child = this.#inodes.detach(path);
    const parent = this.#inodes.find(path.slice(0, -1));
    if (parent === undefined) return; // The kernel has no dentry under a parent it does not know.
    const name = Buffer.from(path[path.length - 1]!);
    this.#invalidations++;
    this.#out.notify(child === undefined ? encodeNotifyInvalEntry(parent.ino, name) : encodeNotifyDelete(parent.ino, child.ino, name));
  }

  #reply(unique: number, bodyLen: number): void {
    const len = Size.OUT_HEADER + bodyLen;
    encodeOutHeader(this.#buf, 0, len, 0, unique);
    this.#out.reply(this.#buf.subarray(0, len));
    if (this.#stats !== undefined) this.#answered(unique, this.#opOf(unique), false);
  }

  /** The opcode of the request `handle` runs now; undefined for a later reply (its op was kept when it began). */
  #opOf(unique: number): number | undefined {
    return unique === this.#current ? this.#currentOp : undefined;
  }

  #fail(unique: number, opcode: number, e: unknown): void {
    let code: number;
    if (isUmdevError(e)) {
      code = e.code;
      this.#log('debug', `${opName(opcode)} failed: ${e.errno} ${e.message}`);
    } else {
      code = 5; // EIO: anything but a UmdevError is a bug in the tree or here.
      this.#log('error', `${opName(opcode)} failed with a bug: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    }
    encodeOutHeader(this.#buf, 0, Size.OUT_HEADER, -code, unique);
    this.#out.reply(this.#buf.subarray(0, Size.OUT_HEADER));
    if (this.#stats !== undefined) this.#answered(unique, opcode, true);
  }
}
