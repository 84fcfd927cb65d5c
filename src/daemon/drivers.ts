/**
 * The vendor drivers a config can name. A module of its own because device hosts import it too (by URL, see
 * `device-host/`), and they should load the drivers and nothing else of the daemon.
 */
import { createMbochsParent, MBOCHS_DEFAULT_MAX_MBYTES } from '../drivers/mbochs/index.js';
import { createMcountParent } from '../drivers/mcount/index.js';
import { createMttyParent, MTTY_MAX_PORTS } from '../drivers/mtty/index.js';
import { createMvblkParent, MVBLK_DEFAULT_QUEUES } from '../drivers/mvblk/index.js';
import path from 'node:path';
import type { DriverCatalog } from './config.js';
import { integer, string } from './validate.js';

export const DRIVERS: DriverCatalog = {
  mtty: {
    keys: ['ports'],
    validate: (entry, path, issues) => {
      if (entry.ports !== undefined) integer(entry.ports, `${path}.ports`, issues, 1, 4096);
    },
    create: (options, placement) => createMttyParent({ ports: typeof options.ports === 'number' ? options.ports : MTTY_MAX_PORTS }, placement),
  },
  // `max_mbytes`, named after the sample's module parameter: MiB of video memory the parent's devices share.
  mbochs: {
    keys: ['max_mbytes'],
    validate: (entry, path, issues) => {
      if (entry.max_mbytes !== undefined) integer(entry.max_mbytes, `${path}.max_mbytes`, issues, 1, 1 << 20);
    },
    create: (options, placement) => createMbochsParent({ maxMbytes: typeof options.max_mbytes === 'number' ? options.max_mbytes : MBOCHS_DEFAULT_MAX_MBYTES }, placement),
  },
  // virtio-blk disks: `queues` to share out (each device takes its type's), `images` where backing files may be named
  // from and default images are made (relative to the state dir; default `<state>/images`).
  mvblk: {
    keys: ['queues', 'images'],
    validate: (entry, p, issues) => {
      if (entry.queues !== undefined) integer(entry.queues, `${p}.queues`, issues, 1, 4096);
      if (entry.images !== undefined) string(entry.images, `${p}.images`, issues, { nonEmpty: true });
    },
    create: (options, placement, context) => {
      const images = typeof options.images === 'string' ? options.images : 'images';
      // A device host builds the declaration without a context: it opens no file, so it needs no directory.
      const dir = path.isAbsolute(images) ? images : context === undefined ? undefined : path.resolve(context.stateDir, images);
      return createMvblkParent({ queues: typeof options.queues === 'number' ? options.queues : MVBLK_DEFAULT_QUEUES, ...(dir === undefined ? {} : { images: dir }) }, placement);
    },
  },
  // The vendor guide's example driver (docs/vendor-guide.md).
  mcount: { keys: [], validate: () => undefined, create: (_options, placement) => createMcountParent(placement) },
};

/** Where device hosts import `DRIVERS` from. */
export const DRIVERS_MODULE = import.meta.url;
