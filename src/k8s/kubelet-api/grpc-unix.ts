/**
 * Concepts: gRPC over Unix sockets, the kubelet's way. `serveUnix` binds a server on a socket path (a stale file
 * is replaced, as the kubelet's own plugins do; the parent directory must exist) with an explicit mode, never one
 * from the umask: the socket is bound inside a fresh 0700 directory, given its mode, then renamed into place, so
 * nobody can connect before the mode is set (a socket made at umask 000 would let any user ask root for devices).
 * `shutdown` removes the socket it made (not a newer one at the same path). `unixClient` connects a
 * client, `unary` turns a callback call into a promise, and `grpcError` maps a `UmdevError` to a gRPC status so the
 * kubelet sees why (`EINVAL` → INVALID_ARGUMENT, `ENOSPC`/`EUSERS` → RESOURCE_EXHAUSTED, …).
 */
import { Server, ServerCredentials, credentials, status, type Client, type ServiceError, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { chmod, lstat, mkdtemp, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { toUmdevError } from '../../errors.js';
import type { GrpcService } from './protos.js';

/** A gRPC target for a socket path. */
export function unixTarget(path: string): string {
  return `unix://${path}`;
}

/** Socket files made by `serveUnix`, by server: path and inode, so shutdown removes only its own. */
const made = new WeakMap<Server, { readonly path: string; readonly ino: number }>();

/** Serve `impl` of `service` on the socket `socketPath` with `mode` (default 0600: root, the kubelet, only). */
export async function serveUnix(socketPath: string, services: readonly [GrpcService, UntypedServiceImplementation][], mode = 0o600): Promise<Server> {
  const server = new Server();
  for (const [svc, impl] of services) server.addService(svc.definition, impl);
  const dir = await mkdtemp(path.join(path.dirname(socketPath), '.umdev-k8s-'));
  try {
    await chmod(dir, 0o700);
    const tmp = path.join(dir, 's');
    await new Promise<void>((resolve, reject) => {
      server.bindAsync(unixTarget(tmp), ServerCredentials.createInsecure(), (e) => (e === null ? resolve() : reject(e)));
    });
    await chmod(tmp, mode);
    await rename(tmp, socketPath);
    made.set(server, { path: socketPath, ino: (await lstat(socketPath)).ino });
  } catch (e) {
    server.forceShutdown();
    throw e;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return server;
}

/** Stop a server: in-flight calls get `graceMs` to finish, then everything is cut; its socket file is removed. */
export async function shutdown(server: Server, graceMs = 1000): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
  const m = made.get(server);
  made.delete(server);
  if (m !== undefined && (await lstat(m.path).then((s) => s.ino, () => undefined)) === m.ino) await rm(m.path, { force: true });
}

/** A client of `service` on the socket `path`; the caller closes it. */
export function unixClient(service: GrpcService, path: string): Client {
  return new service.client(unixTarget(path), credentials.createInsecure());
}

type Callback<R> = (e: ServiceError | null, r?: R) => void;

/** Call a unary method `name` of `client` with a deadline; resolves with the reply. */
export function unary<Req, Res>(client: Client, name: string, req: Req, timeoutMs = 10_000): Promise<Res> {
  const fn = (client as unknown as Record<string, (r: Req, o: { deadline: number }, cb: Callback<Res>) => void>)[name];
  if (typeof fn !== 'function') return Promise.reject(new Error(`no gRPC method ${name}`));
  return new Promise((resolve, reject) => {
    fn.call(client, req, { deadline: Date.now() + timeoutMs }, (e, r) => (e === null ? resolve(r as Res) : reject(e)));
  });
}

const STATUS_OF: Readonly<Record<string, status>> = {
  EINVAL: status.INVALID_ARGUMENT,
  ENOENT: status.NOT_FOUND,
  ENODEV: status.NOT_FOUND,
  EEXIST: status.ALREADY_EXISTS,
  EACCES: status.PERMISSION_DENIED,
  EPERM: status.PERMISSION_DENIED,
  ENOSPC: status.RESOURCE_EXHAUSTED,
  EUSERS: status.RESOURCE_EXHAUSTED,
  EBUSY: status.UNAVAILABLE,
  EAGAIN: status.UNAVAILABLE,
  ECONNREFUSED: status.UNAVAILABLE,
  EOPNOTSUPP: status.UNIMPLEMENTED,
};

/** A gRPC error carrying the errno and message of `e`. */
export function grpcError(e: unknown): Partial<ServiceError> {
  const u = toUmdevError(e);
  return { code: STATUS_OF[u.errno] ?? status.UNKNOWN, details: `${u.errno}: ${u.message}`, message: u.message };
}
