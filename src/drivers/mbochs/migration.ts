/**
 * Concepts: mbochs's migration stream: the DISPI registers and the video memory (BAR0). Video memory is a memfd the
 * VMM maps into the guest, so the device never sees the guest's framebuffer writes and cannot log them as dirty.
 * Instead PRE_COPY sends every page while the guest runs and remembers a 64-bit hash of each page as it was sent;
 * STOP_COPY (the guest stopped) hashes the pages again and sends only those whose hash changed, plus any PRE_COPY
 * did not get to, then the registers. Hashing 16 MiB costs a few milliseconds of downtime, far less than sending it
 * again. The hash is not cryptographic: a guest that forges a collision only corrupts its own screen.
 *
 * The stream is a sequence of records, each a 16-byte little-endian header {u32 tag, u32 a, u32 b, u32 0}:
 * - PAGES {first page, page count} then count × 4096 bytes of video memory;
 * - REGS {pages of video memory, register count} then that many u16 DISPI registers;
 * - END, after which nothing may follow.
 * STOP_COPY ends with REGS and END. The destination stages everything and loads it only on the way out of RESUMING
 * (all or nothing): a bad tag, a page past video memory, a second END, bytes after END, a stream without REGS or END,
 * or registers that do not fit this device are EINVAL with the device unchanged.
 */
import { type DeviceMigration, err, type MigrationSink, type MigrationSource } from '../../sdk/index.js';
import { DISPI, type DispiRegisters } from './dispi.js';

export const PAGE = 4096;
export const HEADER = 16;
export const TAG = { PAGES: 0x4750424d, REGS: 0x4752424d, END: 0x444e454d } as const;
/** Pages per PAGES record: 256 KiB, so a reader's chunk holds a few records. */
const RUN_PAGES = 64;
const REGS_BYTES = DISPI.COUNT * 2;

/** What the stream needs from the device. */
export interface MbochsMigrationParts {
  readonly vramBytes: number;
  readonly dispi: DispiRegisters;
  /** The video memory while it exists (per-session memory: while a client has it, or a migration loaded it). */
  memory(): Uint8Array | undefined;
  /** The video memory to load into, created now if absent; the next client maps it. */
  memoryForLoad(): Uint8Array;
  /** True while the device is in PRE_COPY (STOP_COPY then continues PRE_COPY's stream). */
  inPreCopy(): boolean;
}

/** A 64-bit hash of one page as two 32-bit lanes (FNV-1a on words, and a multiply-rotate). */
export function pageHash(bytes: Uint8Array, at: number, out: Uint32Array, slot: number): void {
  const w = new Uint32Array(bytes.buffer, bytes.byteOffset + at, PAGE / 4);
  let h1 = 0x811c9dc5;
  let h2 = 0x9e3779b9;
  for (let i = 0; i < w.length; i++) {
    const v = w[i]!;
    h1 = Math.imul(h1 ^ v, 0x01000193);
    h2 = Math.imul(((h2 + v) << 13) | ((h2 + v) >>> 19), 0x85ebca6b);
  }
  out[slot * 2] = h1;
  out[slot * 2 + 1] = h2;
}

function header(tag: number, a: number, b: number, body: number): Buffer {
  const h = Buffer.alloc(HEADER + body);
  h.writeUInt32LE(tag, 0);
  h.writeUInt32LE(a, 4);
  h.writeUInt32LE(b, 8);
  return h;
}

/** mbochs's `DeviceMigration`; see the module comment. */
export function mbochsMigration(p: MbochsMigrationParts): DeviceMigration {
  const pages = p.vramBytes / PAGE;
  // What PRE_COPY sent: per page a flag and the hash of the bytes sent.
  let sent = new Uint8Array(pages);
  let hashes = new Uint32Array(pages * 2);
  /** Records of `list`'s pages, copied (and hashed) when the reader gets to them. */
  function* pageRecords(list: () => readonly number[]): Generator<Uint8Array> {
    const mem = p.memory();
    if (mem === undefined) return;
    const todo = list();
    for (let i = 0; i < todo.length; ) {
      let n = 1;
      while (n < RUN_PAGES && i + n < todo.length && todo[i + n] === todo[i]! + n) n++;
      const first = todo[i]!;
      const rec = header(TAG.PAGES, first, n, n * PAGE);
      rec.set(mem.subarray(first * PAGE, (first + n) * PAGE), HEADER);
      for (let k = 0; k < n; k++) {
        pageHash(rec, HEADER + k * PAGE, hashes, first + k);
        sent[first + k] = 1;
      }
      yield rec;
      i += n;
    }
  }
  const all = (): number[] => Array.from({ length: pages }, (_, i) => i);
  /** Pages PRE_COPY did not send, or that changed since (the device is stopped: hashed once more, now). */
  const changed = (): number[] => {
    const mem = p.memory()!;
    const now = new Uint32Array(2);
    const out: number[] = [];
    for (let i = 0; i < pages; i++) {
      if (!sent[i]) {
        out.push(i);
        continue;
      }
      pageHash(mem, i * PAGE, now, 0);
      if (now[0] !== hashes[i * 2] || now[1] !== hashes[i * 2 + 1]) out.push(i);
    }
    return out;
  };
  return {
    quiesce: () => undefined,
    resume: () => undefined,
    preCopy: () => {
      sent = new Uint8Array(pages);
      hashes = new Uint32Array(pages * 2);
      return source(pageRecords(all), p.memory() === undefined ? 0 : p.vramBytes + Math.ceil(pages / RUN_PAGES) * HEADER);
    },
    stopCopy: () => {
      // Straight from STOP nothing was sent before; after PRE_COPY (whose unread rest the reader takes first)
      // only what changed. Decided when the reader gets here, once PRE_COPY's rest is out.
      const fromPreCopy = p.inPreCopy();
      if (!fromPreCopy) sent = new Uint8Array(pages);
      function* records(): Generator<Uint8Array> {
        yield* pageRecords(fromPreCopy ? changed : all);
        const regs = header(TAG.REGS, pages, DISPI.COUNT, REGS_BYTES);
        p.dispi.save().forEach((v, i) => regs.writeUInt16LE(v, HEADER + i * 2));
        yield regs;
        yield header(TAG.END, 0, 0, 0);
      }
      return source(records(), HEADER * 2 + REGS_BYTES);
    },
    resuming: () => sink(p, pages),
  };
}

/** A source reading `records` as one byte stream; `estimate` is what `pending` reports before the first read. */
function source(records: Iterator<Uint8Array>, estimate: number): MigrationSource {
  let current: Uint8Array = new Uint8Array(0);
  let at = 0;
  let done = false;
  let left = estimate;
  return {
    pending: () => ({ initial: done ? 0 : Math.max(left, current.length - at), dirty: 0 }),
    read: (max) => {
      const out = Buffer.alloc(max);
      let n = 0;
      while (n < max && !done) {
        if (at === current.length) {
          const r = records.next();
          if (r.done) {
            done = true;
            break;
          }
          current = r.value;
          at = 0;
        }
        const k = Math.min(max - n, current.length - at);
        out.set(current.subarray(at, at + k), n);
        at += k;
        n += k;
        left = Math.max(0, left - k);
      }
      return out.subarray(0, n);
    },
  };
}

/** Stages the incoming stream; `finish` checks it is complete and loads it. */
function sink(p: MbochsMigrationParts, pages: number): MigrationSink {
  let staged: Uint8Array | undefined;
  let written: Uint8Array | undefined;
  const head = Buffer.alloc(HEADER);
  let headFill = 0;
  /** The record being read: its tag, where its body goes, and how much of it is left. */
  let body: { readonly tag: number; at: number; left: number } | undefined;
  const regs = Buffer.alloc(REGS_BYTES);
  let haveRegs = false;
  let ended = false;
  let broken: string | undefined;
  const refuse = (why: string): never => {
    broken ??= why;
    throw err('EINVAL', `mbochs migration stream: ${why}`);
  };
  const startRecord = (): void => {
    const tag = head.readUInt32LE(0);
    const a = head.readUInt32LE(4);
    const b = head.readUInt32LE(8);
    if (head.readUInt32LE(12) !== 0) refuse('a record header with non-zero reserved bits');
    if (tag === TAG.PAGES) {
      if (b === 0 || a >= pages || b > pages - a) refuse(`pages ${a}+${b} outside video memory of ${pages} pages`);
      staged ??= new Uint8Array(pages * PAGE);
      written ??= new Uint8Array(pages);
      written.fill(1, a, a + b);
      body = { tag, at: a * PAGE, left: b * PAGE };
    } else if (tag === TAG.REGS) {
      if (a !== pages) refuse(`registers of a device with ${a} pages of video memory, this one has ${pages}`);
      if (b !== DISPI.COUNT) refuse(`${b} registers, mbochs has ${DISPI.COUNT}`);
      body = { tag, at: 0, left: REGS_BYTES };
    } else if (tag === TAG.END) {
      if (a !== 0 || b !== 0) refuse('an END record with a payload');
      ended = true;
    } else refuse(`unknown record tag 0x${tag.toString(16)}`);
  };
  return {
    write: (chunk) => {
      if (broken !== undefined) refuse(broken);
      let i = 0;
      while (i < chunk.length) {
        if (ended) refuse('bytes after the END record');
        if (body === undefined) {
          const k = Math.min(HEADER - headFill, chunk.length - i);
          head.set(chunk.subarray(i, i + k), headFill);
          headFill += k;
          i += k;
          if (headFill === HEADER) {
            headFill = 0;
            startRecord();
          }
          continue;
        }
        const k = Math.min(body.left, chunk.length - i);
        const piece = chunk.subarray(i, i + k);
        if (body.tag === TAG.PAGES) staged!.set(piece, body.at);
        else regs.set(piece, body.at);
        body.at += k;
        body.left -= k;
        i += k;
        if (body.left === 0) {
          if (body.tag === TAG.REGS) haveRegs = true;
          body = undefined;
        }
      }
    },
    finish: () => {
      if (broken !== undefined) refuse(broken);
      if (!ended) refuse(body === undefined && headFill === 0 ? 'no END record (truncated)' : 'truncated inside a record');
      if (!haveRegs) refuse('no REGS record');
      const values = Array.from({ length: DISPI.COUNT }, (_, i) => regs.readUInt16LE(i * 2));
      p.dispi.check(values);
      if (staged !== undefined && written !== undefined) {
        const mem = p.memoryForLoad();
        for (let i = 0; i < pages; i++) if (written[i]) mem.set(staged.subarray(i * PAGE, (i + 1) * PAGE), i * PAGE);
      }
      p.dispi.load(values);
    },
  };
}
