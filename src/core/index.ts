/** The vendor- and view-facing API of the mdev core (like include/linux/mdev.h). Internal modules stay unexported. */
export { Core, type CoreOptions } from './core.js';
export { UmdevError, err, isUmdevError, toUmdevError, errnoNumber, errnoName, httpStatus, exitCode, STRERROR, ERRNO } from '../errors.js';
export type { Errno } from '../errors.js';
export type * from './types.js';
