/** The public surface of the FUSE server: serve any `AttrTree` at a mountpoint. */
export { FuseServer, type FuseServerOptions } from './server.js';
export type { MountMethod } from './mount.js';
export type { FuseLogger } from './dispatcher.js';
export type { AttrDir, AttrFile, AttrLink, AttrNode, AttrNodeKind, AttrTree } from './attr-tree.js';
