/**
 * Concepts: one virtio-blk request (virtio v1.2 §5.2.6), executed over guest memory (`DmaAccess`) and the disk's
 * backing file. A request is a chain of buffers: device-readable ones holding the 16-byte header (type, sector) and,
 * for a write, the data; then device-writable ones taking, for a read, the data, and in their last byte the status.
 * Nothing is assumed about how the bytes are split into buffers (§5.2.6.4: "the driver MUST NOT make assumptions
 * about the framing").
 *
 * Checked before any I/O: the header is whole, a status byte exists, the data is whole sectors and lies inside the
 * disk, each buffer is at most `sizeMax` and there are at most `segMax` of them. A failure is the status IOERR
 * (UNSUPP for an unknown type), never an exception out of `execute`. Data moves in pieces of at most `CHUNK` bytes,
 * so a request costs one piece of memory however large it is.
 */
import { type BackingFile, type DmaAccess, type DmaSegment, type Scratch, UmdevError } from '../../sdk/index.js';
import type { Segment } from './virtqueue.js';
import { BLK_HDR_SIZE, BLK_ID_BYTES, BLK_S, BLK_T, SECTOR } from './virtio.js';

/** Largest piece of data moved between guest memory and the file at once. */
export const CHUNK = 1 << 20;

/** What the device's type and configuration say a request may be, and the device's staging buffers. */
export interface BlkLimits {
  readonly segMax: number;
  readonly sizeMax: number;
  /** Answered to GET_ID (up to 20 bytes). */
  readonly serial: string;
  /** Buffers of CHUNK bytes a piece of data is staged in (reused: allocating one per request costs milliseconds). */
  readonly scratch: Scratch;
}

/** The outcome: the status written to the guest, and the bytes written into its buffers (the used length). */
export interface BlkResult {
  readonly status: number;
  readonly written: number;
  /** Why it failed, for a debug line. */
  readonly why?: string;
}

/** A request failure that becomes a status (its message names what went wrong). */
class Refused extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** Run the request in `segs` against `file`; `use` is told each piece of guest memory before it is touched. */
export async function execute(
  segs: readonly Segment[],
  dma: DmaAccess,
  file: BackingFile | undefined,
  limits: BlkLimits,
  use: (iova: bigint, length: number) => void,
): Promise<BlkResult> {
  const readable = segs.filter((s) => !s.write);
  const writable = segs.filter((s) => s.write);
  const statusSeg = writable.at(-1);
  // Without a status byte there is nothing to answer in: the caller returns the chain unanswered (used length 0).
  if (statusSeg === undefined || statusSeg.len === 0) return { status: -1, written: 0, why: 'no status byte' };
  const statusAt = statusSeg.addr + BigInt(statusSeg.len - 1);
  const data = [...writable.slice(0, -1), ...(statusSeg.len > 1 ? [{ addr: statusSeg.addr, len: statusSeg.len - 1, write: true }] : [])];
  let result: BlkResult;
  try {
    if (segs.length > limits.segMax + 2) throw new Refused(BLK_S.IOERR, `${segs.length} buffers, at most ${limits.segMax} for data`);
    for (const s of segs) if (s.len > limits.sizeMax) throw new Refused(BLK_S.IOERR, `a buffer of ${s.len} bytes, at most ${limits.sizeMax}`);
    const header = await gather(dma, readable, BLK_HDR_SIZE, use);
    if (header.length < BLK_HDR_SIZE) throw new Refused(BLK_S.IOERR, `a header of ${header.length} bytes`);
    const type = header.readUInt32LE(0);
    const sector = header.readBigUInt64LE(8);
    result = await run(type, sector, readable, data, dma, file, limits, use);
  } catch (e) {
    result = e instanceof Refused ? { status: e.status, written: 0, why: e.message } : { status: BLK_S.IOERR, written: 0, why: e instanceof UmdevError ? `${e.errno}: ${e.message}` : String(e) };
  }
  use(statusAt, 1);
  await dma.write(statusAt, Buffer.of(result.status));
  return { ...result, written: result.written + 1 };
}

async function run(
  type: number,
  sector: bigint,
  readable: readonly Segment[],
  data: readonly Segment[],
  dma: DmaAccess,
  file: BackingFile | undefined,
  limits: BlkLimits,
  use: (iova: bigint, length: number) => void,
): Promise<BlkResult> {
  switch (type) {
    case BLK_T.IN: {
      const disk = need(file);
      const bytes = total(data);
      const at = span(sector, bytes, disk);
      for (const piece of pieces(data)) {
        const buf = limits.scratch.take(total(piece.segs));
        try {
          disk.read(buf, at + piece.offset);
          await scatter(dma, piece.segs, buf, use);
        } finally {
          limits.scratch.give(buf);
        }
      }
      return { status: BLK_S.OK, written: bytes };
    }
    case BLK_T.OUT: {
      const disk = need(file);
      if (disk.readOnly) throw new Refused(BLK_S.IOERR, 'a write to a read-only disk');
      const payload = skip(readable, BLK_HDR_SIZE);
      const at = span(sector, total(payload), disk);
      for (const piece of pieces(payload)) {
        const into = limits.scratch.take(total(piece.segs));
        try {
          disk.write(await gather(dma, piece.segs, total(piece.segs), use, into), at + piece.offset);
        } finally {
          limits.scratch.give(into);
        }
      }
      return { status: BLK_S.OK, written: 0 };
    }
    case BLK_T.FLUSH:
      need(file).flush();
      return { status: BLK_S.OK, written: 0 };
    case BLK_T.GET_ID: {
      const id = Buffer.alloc(BLK_ID_BYTES);
      id.write(limits.serial.slice(0, BLK_ID_BYTES), 'latin1');
      const room = Math.min(total(data), BLK_ID_BYTES);
      await scatter(dma, data, id.subarray(0, room), use);
      return { status: BLK_S.OK, written: room };
    }
    default:
      throw new Refused(BLK_S.UNSUPP, `request type ${type}`);
  }
}

function need(file: BackingFile | undefined): BackingFile {
  if (file === undefined || file.closed) throw new Refused(BLK_S.IOERR, 'the disk has no backing file');
  return file;
}

/** Byte position of `sector` for `bytes` of data, checked: whole sectors inside the disk. */
function span(sector: bigint, bytes: number, disk: BackingFile): number {
  if (bytes % SECTOR !== 0) throw new Refused(BLK_S.IOERR, `${bytes} data bytes are not whole sectors`);
  const capacity = BigInt(Math.floor(disk.size / SECTOR));
  if (sector > capacity || sector + BigInt(bytes / SECTOR) > capacity) throw new Refused(BLK_S.IOERR, `sectors ${sector}+${bytes / SECTOR} beyond the disk's ${capacity}`);
  return Number(sector) * SECTOR;
}

function total(segs: readonly Segment[]): number {
  let n = 0;
  for (const s of segs) n += s.len;
  return n;
}

/** `segs` without their first `bytes` bytes. */
function skip(segs: readonly Segment[], bytes: number): Segment[] {
  const out: Segment[] = [];
  let left = bytes;
  for (const s of segs) {
    if (left >= s.len) {
      left -= s.len;
      continue;
    }
    out.push({ addr: s.addr + BigInt(left), len: s.len - left, write: s.write });
    left = 0;
  }
  return out;
}

/** `segs` grouped into runs of at most CHUNK bytes (a buffer is at most `sizeMax` ≤ CHUNK), with their offset. */
function* pieces(segs: readonly Segment[]): Generator<{ segs: Segment[]; offset: number }> {
  let run: Segment[] = [];
  let runBytes = 0;
  let offset = 0;
  for (const s of segs) {
    if (runBytes > 0 && runBytes + s.len > CHUNK) {
      yield { segs: run, offset };
      offset += runBytes;
      run = [];
      runBytes = 0;
    }
    run.push(s);
    runBytes += s.len;
  }
  if (runBytes > 0) yield { segs: run, offset };
}

/** Up to `want` bytes of the buffers in `segs`: one scatter-gather read. */
function gather(dma: DmaAccess, segs: readonly Segment[], want: number, use: (iova: bigint, length: number) => void, into?: Buffer): Promise<Buffer> {
  return dma.readv(dmaList(segs, want, use), into);
}

/** `buf` spread over the buffers in `segs`, in order: one scatter-gather write. */
function scatter(dma: DmaAccess, segs: readonly Segment[], buf: Buffer, use: (iova: bigint, length: number) => void): Promise<void> {
  return dma.writev(dmaList(segs, buf.length, use), buf);
}

/** The first `bytes` of the buffers in `segs` as a scatter-gather list, each piece marked in use. */
function dmaList(segs: readonly Segment[], bytes: number, use: (iova: bigint, length: number) => void): DmaSegment[] {
  const list: DmaSegment[] = [];
  let at = 0;
  for (const s of segs) {
    if (at >= bytes) break;
    const n = Math.min(s.len, bytes - at);
    use(s.addr, n);
    list.push({ iova: s.addr, length: n });
    at += n;
  }
  return list;
}
