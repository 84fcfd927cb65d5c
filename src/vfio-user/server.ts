/**
 * The vfio-user server's command table: which handler answers which command. Commands missing here (DMA_READ and
 * DMA_WRITE go server→client only; 14 was DIRTY_PAGES in spec 0.9.1) are answered EINVAL by the connection.
 */
import { Command } from './constants.js';
import type { Handler } from './connection.js';
import { handleDeviceGetInfo, handleGetRegionInfo, handleGetRegionIoFds } from './handlers/device-info.js';
import { handleDmaMap, handleDmaUnmap } from './handlers/dma.js';
import { handleGetIrqInfo, handleSetIrqs } from './handlers/irq.js';
import { handleDeviceFeature, handleMigDataRead, handleMigDataWrite } from './handlers/migration.js';
import { handleRegionRead, handleRegionWrite, handleRegionWriteMulti } from './handlers/region.js';
import { handleDeviceReset } from './handlers/reset.js';
import { handleVersion } from './handlers/version.js';

/** Shared by every connection; read-only. */
export const HANDLERS: ReadonlyMap<number, Handler> = new Map<number, Handler>([
  [Command.VERSION, handleVersion],
  [Command.DMA_MAP, handleDmaMap],
  [Command.DMA_UNMAP, handleDmaUnmap],
  [Command.DEVICE_GET_INFO, handleDeviceGetInfo],
  [Command.DEVICE_GET_REGION_INFO, handleGetRegionInfo],
  [Command.DEVICE_GET_REGION_IO_FDS, handleGetRegionIoFds],
  [Command.DEVICE_GET_IRQ_INFO, handleGetIrqInfo],
  [Command.DEVICE_SET_IRQS, handleSetIrqs],
  [Command.REGION_READ, handleRegionRead],
  [Command.REGION_WRITE, handleRegionWrite],
  [Command.DEVICE_RESET, handleDeviceReset],
  [Command.REGION_WRITE_MULTI, handleRegionWriteMulti],
  [Command.DEVICE_FEATURE, handleDeviceFeature],
  [Command.MIG_DATA_READ, handleMigDataRead],
  [Command.MIG_DATA_WRITE, handleMigDataWrite],
]);
