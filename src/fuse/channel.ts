/**
 * Concepts: the seam between the FUSE protocol and the device it travels on. The dispatcher only ever sees whole
 * request buffers and writes whole reply buffers; `/dev/fuse` (device-channel.ts) is one implementation, an in-memory
 * capture in the tests is another.
 */

/** Where replies and notifications go. Implementations own the file descriptor; the dispatcher never closes it. */
export interface FuseReplier {
  /**
   * Writes one whole reply message now. The caller may reuse `msg` as soon as this returns. A reply to a request the
   * kernel has meanwhile abandoned (interrupted, aborted) is dropped silently.
   */
  reply(msg: Buffer): void;
  /**
   * Writes one notification (unique 0) without ever blocking the caller: the kernel may hold a notification on an
   * inode lock that only a later reply from this same process releases. `msg` becomes the channel's.
   */
  notify(msg: Buffer): void;
  /**
   * Resolves once every notification passed to `notify` before this call has reached the kernel (or failed). The
   * caller must keep serving requests meanwhile: the kernel may hold a notification until it answers one.
   */
  drained(): Promise<void>;
}

/** A full duplex FUSE transport: delivers requests to one handler and carries its replies. */
export interface FuseChannel extends FuseReplier {
  /** Installs the request handler. Each buffer is valid only during the call: the channel reuses it. */
  onRequest(handler: (req: Buffer) => void): void;
}
