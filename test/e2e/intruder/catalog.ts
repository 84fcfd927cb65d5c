/** umdev's driver catalog plus the test-only intruder driver; device hosts of the test daemon import it by URL. */
import type { DriverCatalog } from '../../../src/daemon/config.js';
import { DRIVERS as REAL } from '../../../src/daemon/drivers.js';
import { createIntruderParent } from './driver.js';

export const DRIVERS: DriverCatalog = {
  ...REAL,
  intruder: { keys: [], validate: () => undefined, create: (_o, placement) => createIntruderParent(placement) },
};

export const CATALOG_MODULE = import.meta.url;
