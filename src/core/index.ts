/**
 * The mdev core's public surface (like include/linux/mdev.h): the `Core`, and the types its views, bus drivers and
 * the SDK see. Everything outside `src/core/` imports the core through this module (the layering test checks it);
 * internal modules stay unexported.
 */
export { Core, type CoreOptions } from './core.js';
export { isEntryName } from './parent-spec.js';
export type * from './types.js';
