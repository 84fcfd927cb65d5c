/**
 * The vendor drivers a config can name. A module of its own because device hosts import it too (by URL, see
 * `device-host/`), and they should load the drivers and nothing else of the daemon.
 */
import { createMbochsParent, MBOCHS_DEFAULT_MAX_MBYTES } from '../drivers/mbochs/index.js';
import { createMcountParent } from '../drivers/mcount/index.js';
import { createMttyParent, MTTY_MAX_PORTS } from '../drivers/mtty/index.js';
import type { DriverCatalog } from './config.js';
import { integer } from '../validate.js';

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
  // The vendor guide's example driver (docs/vendor-guide.md).
  mcount: { keys: [], validate: () => undefined, create: (_options, placement) => createMcountParent(placement) },
};

/** Where device hosts import `DRIVERS` from. */
export const DRIVERS_MODULE = import.meta.url;
