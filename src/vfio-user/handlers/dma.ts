/**
 * DMA_MAP and DMA_UNMAP: the client's memory windows (see `dma-space.ts`). DMA_MAP takes at most one fd (a memfd
 * or regular file covering the window, else EINVAL); no fd means the device reaches the window with DMA_READ/
 * DMA_WRITE messages. A window over an existing one is
 * EEXIST (spec), one past `max_dma_maps` ENOSPC (as the kernel's type1 `dma_avail`). DMA_UNMAP must name a window
 * exactly (ENOENT otherwise, libvfio-user) or carry UNMAP_ALL with addr = size = 0; its reply echoes the request.
 * DMA_UNMAP with GET_DIRTY_BITMAP is migration v1 (spec 0.9.1): EOPNOTSUPP; v2 logs dirty pages with the
 * DMA_LOGGING_* features (`migration.ts`).
 */
import { err } from '../../errors.js';
import { decodeDmaMap, decodeDmaUnmap } from '../codec.js';
import { DmaMapFlags, DmaUnmapFlags, Size } from '../constants.js';
import type { Handler } from '../connection.js';

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
    conn.dma.removeAll();
  } else if (u.flags === DmaUnmapFlags.GET_DIRTY_BITMAP) {
    throw err('EOPNOTSUPP', 'DMA_UNMAP: dirty bitmaps are not supported');
  } else if (u.flags !== 0) {
    throw err('EINVAL', `DMA_UNMAP: unknown flags 0x${u.flags.toString(16)}`);
  } else {
    conn.dma.remove(u.iova, u.size);
  }
  conn.device.activity?.dmaUnmap();
  return { payload: msg.body.subarray(0, Size.DMA_UNMAP) };
};
