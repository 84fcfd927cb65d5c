/** umdevd as shipped, with the intruder driver in its catalog: the daemon the isolation tests attack. */
import '../../../src/daemon/process-guard.js';
import { describeError } from '../../../src/log.js';
import { realParts } from '../../../src/daemon/parts.js';
import { runUmdevd } from '../../../src/daemon/run.js';
import { CATALOG_MODULE, DRIVERS } from './catalog.js';

runUmdevd(process.argv.slice(2), realParts({ drivers: DRIVERS, module: CATALOG_MODULE })).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`umdevd: ${describeError(e)}\n`);
    process.exit(1);
  },
);
