/**
 * Concepts: the CLI reports errors the way mdevctl 1.2.0 (anyhow) does. A failure is a `UmdevError` whose message
 * is the top line (`Error: <message>`); a `UmdevError` in its `cause` is a context line printed under `Caused by:`.
 * A system error from `fs/promises` or a child process becomes a `UmdevError` whose message is what Rust's
 * `io::Error` prints (`No such file or directory (os error 2)`), so wrapping it with `context()` gives mdevctl's
 * two-part messages byte for byte.
 */
import { constants } from 'node:os';
import { getSystemErrorMap } from 'node:util';
import { ERRNO, STRERROR, UmdevError, isErrno, type Errno } from '../errors.js';

/** glibc strerror texts for errnos outside the core table that file operations can still return. */
const MORE_STRERROR: Readonly<Record<string, string>> = {
  ELOOP: 'Too many levels of symbolic links',
  ENAMETOOLONG: 'File name too long',
  EMFILE: 'Too many open files',
  ENFILE: 'Too many open files in system',
  EXDEV: 'Invalid cross-device link',
  ESRCH: 'No such process',
  EDQUOT: 'Disk quota exceeded',
  ECONNREFUSED: 'Connection refused',
  ESTALE: 'Stale file handle',
};

/**
 * libuv names errno 95 `ENOTSUP` (with the text "operation not supported on socket"); on Linux it is the same number
 * as `EOPNOTSUPP`, which glibc (and so mdevctl) prints as "Operation not supported".
 */
const ALIASES: Readonly<Record<string, string>> = { ENOTSUP: 'EOPNOTSUPP' };

/** An error with mdevctl's message text; `cause` (a `UmdevError`) becomes the `Caused by:` line. */
export function fail(errno: Errno, message: string, cause?: UmdevError): UmdevError {
  return new UmdevError(errno, message, cause === undefined ? undefined : { cause });
}

/** Like anyhow's `.context(msg)`: a new top line over `e`, keeping the errno of what actually failed. */
export function context(e: unknown, message: string): UmdevError {
  const inner = osError(e);
  return new UmdevError(inner.errno, message, { cause: inner });
}

/** The printable text of a system errno, as Rust's `io::Error` displays it. */
export function osErrorText(code: string): string {
  const n = (constants.errno as Record<string, number | undefined>)[code] ?? (isErrno(code) ? ERRNO[code] : undefined);
  if (n === undefined) return code;
  const known = isErrno(code) ? STRERROR[code] : MORE_STRERROR[code];
  const text = known ?? capitalise(getSystemErrorMap().get(-n)?.[1] ?? code);
  return `${text} (os error ${n})`;
}

/**
 * Normalises anything thrown inside a command: a `UmdevError` passes through; a Node system error becomes
 * `<strerror> (os error N)`; anything else is a bug and becomes `EIO` (with the original kept for the stack).
 */
export function osError(e: unknown): UmdevError {
  if (e instanceof UmdevError) return e;
  const raw = (e as { code?: unknown } | null)?.code;
  const code = typeof raw === 'string' ? (ALIASES[raw] ?? raw) : raw;
  if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) {
    const err = new UmdevError(isErrno(code) ? code : 'EIO', osErrorText(code));
    // Kept off the printed chain (it is not a UmdevError) but available to a debugger.
    Object.defineProperty(err, 'origin', { value: e, enumerable: false });
    return err;
  }
  const message = e instanceof Error ? e.message : String(e);
  return new UmdevError('EIO', `internal error: ${message}`, { cause: e });
}

/** The message chain: the error, then each `UmdevError` cause. */
export function chain(e: UmdevError): string[] {
  const lines = [e.message];
  let c: unknown = e.cause;
  while (c instanceof UmdevError) {
    lines.push(c.message);
    c = c.cause;
  }
  return lines;
}

/** What mdevctl prints on stderr when main returns an error (anyhow's Debug format). */
export function formatError(e: UmdevError): string {
  const [top, ...causes] = chain(e);
  let s = `Error: ${top}\n`;
  if (causes.length === 1) s += `\nCaused by:\n    ${causes[0]}\n`;
  else if (causes.length > 1) s += `\nCaused by:\n${causes.map((c, i) => `    ${i}: ${c}\n`).join('')}`;
  return s;
}

/** The machine-readable error line for `--json`. */
export function formatErrorJson(e: UmdevError): string {
  return `${JSON.stringify({ error: { errno: e.errno, message: chain(e).join(': ') } })}\n`;
}

/** Rust's `{:?}` of a path: a quoted string with Rust's escapes, as mdevctl prints paths in its messages. */
export function debugPath(p: string): string {
  let s = '"';
  for (const ch of p) {
    const c = ch.codePointAt(0) ?? 0;
    if (ch === '"' || ch === '\\') s += `\\${ch}`;
    else if (ch === '\n') s += '\\n';
    else if (ch === '\r') s += '\\r';
    else if (ch === '\t') s += '\\t';
    else if (c < 0x20 || c === 0x7f) s += `\\u{${c.toString(16)}}`;
    else s += ch;
  }
  return `${s}"`;
}

function capitalise(s: string): string {
  return s.length === 0 ? s : s[0].toUpperCase() + s.slice(1);
}
