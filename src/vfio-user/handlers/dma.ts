/**
 * DMA_MAP and DMA_UNMAP: the client's memory windows (see `dma-space.ts`). DMA_MAP takes at most one fd (a memfd
 * or regular file covering the window, else EINVAL); no fd means the device reaches the window with DMA_READ/
 * DMA_WRITE messages. A window over an existing one is
 * EEXIST (spec), one past `max_dma_maps` ENOSPC (as the kernel's type1 `dma_avail`). DMA_UNMAP must name a window
 * exactly (ENOENT otherwise, libvfio-user) or carry UNMAP_ALL with addr = size = 0; its reply echoes the request.
 * Before a window goes the device ends the requests that use it (`dmaUnmap`), so the reply means the memory is
 * no longer touched. DMA_UNMAP with GET_DIRTY_BITMAP (spec 0.9.1, still sent by migration-v1 clients) returns the
 * window's pages the device wrote since logging started (DMA_LOGGING_START, `migration.ts`), after it let go.
 */
import { err } from '../../errors.js';
import { decodeDmaMap, decodeDmaUnmap } from '../codec.js';
import { DmaMapFlags, DmaUnmapFlags, Size } from '../constants.js';
import type { Connection, Handler, Reply } from '../connection.js';
import type { DmaWindow } from '../dma-space.js';
import { bitmapBytes } from '../dirty-log.js';
import { MAX_BITMAP_BYTES } from './migration.js';

export const handleDmaMap: Handler = (conn, msg) => {
  const m = decodeDmaMap(msg.body);
  if (m.flags & ~(DmaMapFlags.READ | DmaMapFlags.WRITE)) throw err('EINVAL', `DMA_MAP: unknown flags 0x${m.flags.toString(16)}`);
  if (msg.fds.length > 1) throw err('EINVAL', `DMA_MAP carried ${msg.fds.length} fds`);
  const fd = msg.fds.length === 1 ? msg.fds.splice(0, 1)[0] : undefined;
  const w = conn.dma.add(m.iova, m.size, m.flags, fd, m.offset);
  conn.device.activity?.dmaMap();
  conn.log('debug', `DMA_MAP 0x${w.iova.toString(16)}+0x${w.size.toString(16)} ${w.mem ? 'mapped' : w.file ? 'by pread/pwrite' : 'by message'}`);
  return undefined;
};

export const handleDmaUnmap: Handler = (conn, msg) => {
  const u = decodeDmaUnmap(msg.body);
  if (msg.fds.length > 0) throw err('EINVAL', `DMA_UNMAP carried ${msg.fds.length} fds`);
  if (u.flags === DmaUnmapFlags.ALL) {
    if (u.iova !== 0n || u.size !== 0n) throw err('EINVAL', 'DMA_UNMAP: UNMAP_ALL wants addr and size 0');
    return invalidated(conn, conn.dma.windows(), () => {
      conn.dma.removeAll();
      return { payload: msg.body.subarray(0, Size.DMA_UNMAP) };
    });
  }
  if (u.flags === DmaUnmapFlags.GET_DIRTY_BITMAP) {
    const pageSize = bitmapRequest(conn, u.argsz, u.size, msg.body);
    const w = conn.dma.exact(u.iova, u.size);
    return invalidated(conn, [w], () => {
      // Taken after the device let go of the window, so its last writes are in it.
      const bits = conn.dirtyLog!.collect(w.iova, w.size, pageSize);
      conn.dma.remove(u.iova, u.size);
      return { payload: [msg.body.subarray(0, Size.DMA_UNMAP + Size.BITMAP_HEAD), bits] };
    });
  }
  if (u.flags !== 0) throw err('EINVAL', `DMA_UNMAP: unknown flags 0x${u.flags.toString(16)}`);
  const w = conn.dma.exact(u.iova, u.size);
  return invalidated(conn, [w], () => {
    conn.dma.remove(u.iova, u.size);
    return { payload: msg.body.subarray(0, Size.DMA_UNMAP) };
  });
};

/**
 * The page size of a GET_DIRTY_BITMAP unmap (spec 0.9.1, libvfio-user's `struct vfio_user_bitmap`: `u64 pgsize,
 * u32 size` after the unmap struct): logging must be on, the page size a multiple of the logging one, and `size`
 * and `argsz` must hold the bitmap of the whole window (u64 words, as the kernel's). EINVAL otherwise.
 */
function bitmapRequest(conn: Connection, argsz: number, length: bigint, body: Buffer): bigint {
  if (body.length < Size.DMA_UNMAP + Size.BITMAP_HEAD) throw err('EINVAL', `DMA_UNMAP with a dirty bitmap: payload is ${body.length} bytes, needs ${Size.DMA_UNMAP + Size.BITMAP_HEAD}`);
  const log = conn.dirtyLog;
  if (log === undefined) throw err('EINVAL', 'DMA_UNMAP: a dirty bitmap needs dirty-page logging on');
  const pageSize = body.readBigUInt64LE(Size.DMA_UNMAP);
  const size = body.readUInt32LE(Size.DMA_UNMAP + 8);
  if (pageSize === 0n || (pageSize & (pageSize - 1n)) !== 0n || pageSize % log.pageSize !== 0n) throw err('EINVAL', `DMA_UNMAP: bitmap page size ${pageSize}`);
  const need = bitmapBytes(((length + pageSize - 1n) / pageSize) * pageSize, pageSize);
  if (size < need || argsz < Size.DMA_UNMAP + Size.BITMAP_HEAD + need) throw err('EINVAL', `DMA_UNMAP: the window's bitmap takes ${need} bytes (size ${size}, argsz ${argsz})`);
  if (need > MAX_BITMAP_BYTES) throw err('EINVAL', `DMA_UNMAP: a bitmap of ${need} bytes exceeds ${MAX_BITMAP_BYTES}`);
  return pageSize;
}

/**
 * Close `windows` to the device, let it end the requests that use them (`dmaUnmap`), then `finish` (remove them
 * and reply). Synchronous for a device with nothing to end, so other devices' unmaps are answered in the same tick.
 */
function invalidated(conn: Connection, windows: readonly DmaWindow[], finish: () => Reply): Reply | Promise<Reply> {
  const targets = [...windows];
  for (const w of targets) conn.dma.retire(w);
  const dev = conn.device;
  const done = (): Reply => {
    const r = finish();
    dev.activity?.dmaUnmap();
    return r;
  };
  if (dev.dmaUnmap === undefined || targets.length === 0) return done();
  return (async () => {
    for (const w of targets) {
      try {
        await dev.dmaUnmap?.(w.iova, w.size);
      } catch (e) {
        // An unmap cannot be refused: the memory goes whatever the device says.
        conn.log('warn', `device failed to let go of DMA window 0x${w.iova.toString(16)}: ${(e as Error).message}`);
      }
    }
    return done();
  })();
}
