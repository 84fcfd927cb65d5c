/**
 * The vendor drivers a config can name; each declares its own options (`vendorDriver`, src/sdk). A module of its
 * own because device hosts import it too (by URL, see `device-host/`), and they should load the drivers and nothing
 * else of the daemon.
 */
import { mbochsDriver } from '../drivers/mbochs/index.js';
import { mcountDriver } from '../drivers/mcount/index.js';
import { mttyDriver } from '../drivers/mtty/index.js';
import { mvblkDriver } from '../drivers/mvblk/index.js';
import type { DriverCatalog } from './config.js';

export const DRIVERS: DriverCatalog = {
  mtty: mttyDriver,
  mbochs: mbochsDriver,
  // virtio-blk disks (docs/drivers/mvblk.md).
  mvblk: mvblkDriver,
  // The vendor guide's example driver (docs/vendor-guide.md).
  mcount: mcountDriver,
};

/** Where device hosts import `DRIVERS` from. */
export const DRIVERS_MODULE = import.meta.url;
