import { writeSync } from 'node:fs';
import type { FoundState } from './find-state.js';
import type { Sysroot } from './sysroot.js';

/** Where a command writes text; standard output or error (`FdWriter`), or a buffer in tests. Not closed by commands. */
export interface Writer {
  write(chunk: string): unknown;
  /** Whether the text reaches a terminal (log colours); unknown means no. */
  readonly isTTY?: boolean;
}

/** Everything a command needs from its caller: the roots, the two output streams, and whether `--json` was given. */
export interface CliContext {
  readonly root: Sysroot;
  readonly stdout: Writer;
  readonly stderr: Writer;
  /** `--json`: machine-readable output (same shape as `--dumpjson` for listings, `{"uuid":…}` for changes). */
  readonly json: boolean;
  /** The clock for log timestamps (tests pin it). */
  readonly now?: () => Date;
  /** Which log lines to show (`MDEVCTL_LOG`); default: warnings, uncoloured. */
  readonly log?: LogFilter;
  /** The umdevd state dir the roots came from, when they came from one (`--state-dir`, `UMDEV_STATE`, fallback). */
  readonly state?: FoundState;
}

/** A `Writer` that keeps what was written, for tests and for commands that buffer output. */
export class BufferWriter implements Writer {
  #chunks: string[] = [];
  write(chunk: string): void {
    this.#chunks.push(chunk);
  }
  get text(): string {
    return this.#chunks.join('');
  }
}

/**
 * Standard output or error, written with `write(2)` until every byte is out, in order with whatever was written
 * before: synchronous, as `process.stdout` is for files, pipes and terminals on Linux, but without creating that
 * stream, which loads Node's stream modules (a good part of what a quick command costs to start). A descriptor
 * someone left in non-blocking mode (`EAGAIN`) hands the rest of the output to the Node stream (`stream()`), which
 * waits for it; any other error (`EPIPE`) is thrown to the caller.
 */
export class FdWriter implements Writer {
  readonly #fd: number;
  readonly #stream: () => NodeJS.WriteStream;
  #fallback: NodeJS.WriteStream | undefined;

  constructor(fd: number, stream: () => NodeJS.WriteStream) {
    this.#fd = fd;
    this.#stream = stream;
  }

  write(chunk: string): void {
    if (this.#fallback !== undefined) {
      this.#fallback.write(chunk);
      return;
    }
    const buf = Buffer.from(chunk, 'utf8');
    for (let off = 0; off < buf.length; ) {
      try {
        off += writeSync(this.#fd, buf, off);
      } catch (e) {
        if ((e as { code?: unknown }).code !== 'EAGAIN') throw e;
        this.#fallback = this.#stream();
        this.#fallback.write(buf.subarray(off));
        return;
      }
    }
  }

  /** Asked only when a log line is printed: it creates the Node stream. */
  get isTTY(): boolean {
    return this.#stream().isTTY === true;
  }
}

const LEVELS = ['off', 'error', 'warn', 'info', 'debug', 'trace'] as const;
type Level = (typeof LEVELS)[number];

/** What to log, from `MDEVCTL_LOG` / `MDEVCTL_LOG_STYLE` as mdevctl's env_logger reads them. Plain data. */
export interface LogFilter {
  /** `[module prefix, highest level shown]`, longest prefix first; a target no prefix matches logs nothing. */
  readonly directives: ReadonlyArray<readonly [string, number]>;
  /** Colour the line as env_logger does on a terminal; asked only when a line is printed (see `FdWriter.isTTY`). */
  readonly color: () => boolean;
}

/**
 * env_logger's filter syntax: `LEVEL`, `module=LEVEL` or a bare `module` (all levels), comma-separated, with an
 * optional `/regex` tail that umdevctl ignores. Unset means `warn`, mdevctl's default. `MDEVCTL_LOG_STYLE` is
 * `always`, `never` or `auto` (colour when stderr is a terminal and TERM is not `dumb`).
 */
export function logFilter(env: Readonly<Record<string, string | undefined>>, stderrIsTty: () => boolean = () => false): LogFilter {
  const spec = env.MDEVCTL_LOG ?? '';
  const directives: Array<[string, number]> = [];
  if (spec.trim() === '') directives.push(['', LEVELS.indexOf('warn')]);
  for (const raw of spec.split('/')[0]!.split(',')) {
    const d = raw.trim();
    if (d === '') continue;
    const eq = d.indexOf('=');
    if (eq < 0) {
      const lvl = LEVELS.indexOf(d.toLowerCase() as Level);
      directives.push(lvl >= 0 ? ['', lvl] : [d, LEVELS.indexOf('trace')]);
    } else {
      const lvl = LEVELS.indexOf(d.slice(eq + 1).toLowerCase() as Level);
      if (lvl >= 0) directives.push([d.slice(0, eq), lvl]);
    }
  }
  directives.sort((a, b) => b[0].length - a[0].length);
  const style = (env.MDEVCTL_LOG_STYLE ?? 'auto').toLowerCase();
  const color = (): boolean => style === 'always' || (style !== 'never' && env.TERM !== 'dumb' && stderrIsTty());
  return { directives, color };
}

const COLORS: Readonly<Record<string, string>> = { ERROR: '31', WARN: '33', INFO: '32', DEBUG: '34', TRACE: '36' };

/** One line in env_logger's default format (`[2026-01-01T00:00:00Z WARN  mdevctl] …`), when the filter lets it through. */
function log(ctx: CliContext, level: Exclude<Level, 'off'>, target: string, message: string): void {
  const filter = ctx.log ?? { directives: [['', LEVELS.indexOf('warn')]], color: () => false };
  const max = filter.directives.find(([name]) => target.startsWith(name))?.[1] ?? 0;
  if (LEVELS.indexOf(level) > max) return;
  const ts = (ctx.now?.() ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const lvl = level.toUpperCase().padEnd(5);
  if (!filter.color()) {
    ctx.stderr.write(`[${ts} ${lvl} ${target}] ${message}\n`);
    return;
  }
  const grey = (x: string): string => `\x1b[0m\x1b[38;5;8m${x}\x1b[0m`;
  ctx.stderr.write(`${grey('[')}${ts} \x1b[0m\x1b[${COLORS[level.toUpperCase()]}m${lvl}\x1b[0m ${target}${grey(']')} ${message}\n`);
}

/**
 * A warning, as mdevctl 1.2.0 prints it, so tools that filter mdevctl's stderr treat both programs alike; `target`
 * is the Rust module mdevctl logs it from. With `--json` it is a `{"warning":…}` line instead, whatever the filter.
 */
export function warn(ctx: CliContext, message: string, target = 'mdevctl'): void {
  if (ctx.json) {
    ctx.stderr.write(`${JSON.stringify({ warning: { message } })}\n`);
    return;
  }
  log(ctx, 'warn', target, message);
}

/** A debug line, shown with `MDEVCTL_LOG=debug` (never in `--json` mode, which keeps stderr machine-readable). */
export function debug(ctx: CliContext, target: string, message: string): void {
  if (!ctx.json) log(ctx, 'debug', target, message);
}
