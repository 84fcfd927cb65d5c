/**
 * Concepts: umdev has one error type. Every failure that crosses a boundary is a `UmdevError` carrying a Linux errno
 * name; the boundaries (FUSE replies, vfio-user `error_no`, HTTP statuses, CLI exit codes) translate it with the one
 * table below. Any other exception that reaches a boundary is a bug: log it with its stack and answer `EIO`.
 */

/** Linux errno numbers (asm-generic/errno-base.h, errno.h) for the names umdev uses. */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  EMFILE: 24,
  ENOSPC: 28,
  EROFS: 30,
  EPIPE: 32,
  ERANGE: 34,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ENOTTY: 25,
  ENOTEMPTY: 39,
  ENODATA: 61,
  EPROTO: 71,
  EBADMSG: 74,
  EOVERFLOW: 75,
  EUSERS: 87,
  ENOTSOCK: 88,
  EMSGSIZE: 90,
  EOPNOTSUPP: 95,
  EADDRINUSE: 98,
  ECONNRESET: 104,
  ENOTCONN: 107,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  ECANCELED: 125,
} as const;

export type Errno = keyof typeof ERRNO;

/** HTTP status for each errno at the control API boundary; anything unlisted is a 500. */
const HTTP_STATUS: Partial<Record<Errno, number>> = {
  EPERM: 403,
  EACCES: 403,
  ENOENT: 404,
  ENODEV: 404,
  ENXIO: 404,
  EEXIST: 409,
  EBUSY: 409,
  EAGAIN: 409,
  EINVAL: 400,
  ERANGE: 400,
  E2BIG: 413,
  EMSGSIZE: 413,
  ENOSPC: 507,
  EUSERS: 507,
  ENOSYS: 501,
  ENOTTY: 501,
  EOPNOTSUPP: 501,
  ETIMEDOUT: 504,
};

/** An errno-shaped failure. `errno` is the name callers branch on; the message is for people. */
export class UmdevError extends Error {
  readonly errno: Errno;

  constructor(errno: Errno, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UmdevError';
    this.errno = errno;
  }

  /** The numeric Linux errno (positive), as sent in a vfio-user `error_no` or negated in a FUSE reply. */
  get code(): number {
    return ERRNO[this.errno];
  }
}

/** Throw-site shorthand: `throw err('EEXIST', 'device 1234… already exists')`. */
export function err(errno: Errno, message: string, cause?: unknown): UmdevError {
  return new UmdevError(errno, message, cause === undefined ? undefined : { cause });
}

export function isUmdevError(e: unknown): e is UmdevError {
  return e instanceof UmdevError;
}

export function isErrno(name: string): name is Errno {
  return Object.prototype.hasOwnProperty.call(ERRNO, name);
}

/**
 * Normalises anything caught at a boundary: a `UmdevError` stays as it is, a Node system error with a known `code`
 * (`EACCES`, …) keeps its errno, and everything else becomes `EIO` with the original as `cause`.
 */
export function toUmdevError(e: unknown): UmdevError {
  if (e instanceof UmdevError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && isErrno(code)) return new UmdevError(code, (e as Error).message, { cause: e });
  const message = e instanceof Error ? e.message : String(e);
  return new UmdevError('EIO', `internal error: ${message}`, { cause: e });
}

/** The numeric errno for a name (positive). */
export function errnoNumber(errno: Errno): number {
  return ERRNO[errno];
}

/** The errno name for a number, or `EIO` for numbers umdev does not know. */
export function errnoName(n: number): Errno {
  for (const [name, value] of Object.entries(ERRNO)) if (value === n) return name as Errno;
  return 'EIO';
}

/** HTTP status for an errno at the control API. */
export function httpStatus(errno: Errno): number {
  return HTTP_STATUS[errno] ?? 500;
}

/** The strerror(3) text, as glibc prints it; used in CLI messages that mimic mdevctl's `(os error N)` lines. */
export const STRERROR: Record<Errno, string> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  EINTR: 'Interrupted system call',
  EIO: 'Input/output error',
  ENXIO: 'No such device or address',
  E2BIG: 'Argument list too long',
  EBADF: 'Bad file descriptor',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EFAULT: 'Bad address',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  ENODEV: 'No such device',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  EINVAL: 'Invalid argument',
  EMFILE: 'Too many open files',
  ENOSPC: 'No space left on device',
  EROFS: 'Read-only file system',
  EPIPE: 'Broken pipe',
  ERANGE: 'Numerical result out of range',
  ENAMETOOLONG: 'File name too long',
  ENOSYS: 'Function not implemented',
  ENOTTY: 'Inappropriate ioctl for device',
  ENOTEMPTY: 'Directory not empty',
  ENODATA: 'No data available',
  EPROTO: 'Protocol error',
  EBADMSG: 'Bad message',
  EOVERFLOW: 'Value too large for defined data type',
  EUSERS: 'Too many users',
  ENOTSOCK: 'Socket operation on non-socket',
  EMSGSIZE: 'Message too long',
  EOPNOTSUPP: 'Operation not supported',
  EADDRINUSE: 'Address already in use',
  ECONNRESET: 'Connection reset by peer',
  ENOTCONN: 'Transport endpoint is not connected',
  ETIMEDOUT: 'Connection timed out',
  ECONNREFUSED: 'Connection refused',
  ECANCELED: 'Operation canceled',
};

/** CLI exit code for an error: 1, as mdevctl exits for every runtime error (clap's usage errors are 2). */
export function exitCode(_errno: Errno): number {
  return 1;
}
