/**
 * Concepts: who is at the other end of a connection to the API's Unix socket. Node does not expose SO_PEERCRED, so
 * the fd of the accepted socket goes to the native addon; the kernel recorded the peer's ids and groups when it
 * connected, so nothing the peer sends can change them.
 */
import type { Socket } from 'node:net';
import { native, type PeerCred } from '../../native/index.js';

/**
 * The fd of an accepted `net.Socket`. Node keeps it on the libuv handle (`_handle.fd`), not in its public API; this
 * is the one place that reads it. Undefined when the socket has no fd (closed, or not a pipe or TCP handle).
 */
export function socketFd(socket: Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** The peer's credentials, or undefined when they cannot be read (the caller then gets no rights). */
export function peerOf(socket: Socket): PeerCred | undefined {
  const fd = socketFd(socket);
  if (fd === undefined) return undefined;
  try {
    return native.peerCred(fd);
  } catch {
    return undefined;
  }
}
