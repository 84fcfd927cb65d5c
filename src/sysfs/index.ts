/** The sysfs view of the core: an `AttrTree` for the FUSE server, in the mainline or the seed v6 layout. */
export { SysfsTree, type SysfsTreeOptions, type TreeChange } from './tree.js';
export type { SysfsLayout } from './context.js';
