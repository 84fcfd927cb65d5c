/**
 * The vendor drivers a config can name. A module of its own because device hosts import it too (by URL, see
 * `device-host/`), and they should load the drivers and nothing else of the daemon.
 */
import { createMcountParent } from '../drivers/mcount/index.js';
import { createMttyParent, MTTY_MAX_PORTS } from '../drivers/mtty/index.js';
import type { DriverCatalog } from './config.js';
import { integer } from './validate.js';

export const DRIVERS: DriverCatalog = {
  mtty: {
    keys: ['ports'],
    validate: (entry, path, issues) => {
      if (entry.ports !== undefined) integer(entry.ports, `${path}.ports`, issues, 1, 4096);
    },
    create: (options) => createMttyParent({ ports: typeof options.ports === 'number' ? options.ports : MTTY_MAX_PORTS }),
  },
  // The vendor guide's example driver (docs/vendor-guide.md).
  mcount: { keys: [], validate: () => undefined, create: () => createMcountParent() },
};

/** Where device hosts import `DRIVERS` from. */
export const DRIVERS_MODULE = import.meta.url;
