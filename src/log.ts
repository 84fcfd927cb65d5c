/**
 * Concepts: umdev has one logger, created by `umdevd`'s `main.ts` and handed to every part. A part asks for a child with its
 * component name (`api`, `autostart`, `vfio-user`) and, where there is one, the device UUID, so every line says
 * where it comes from: `2025-01-02T03:04:05.678Z warn  autostart[3f2a…]: attr vendor/knob rejected: EINVAL`. Lines
 * go to stderr (stdout is reserved for the `umdevd ready` line), as plain text or, with `--log-json`, one JSON object
 * per line. Both carry an ISO-8601 UTC timestamp: a daemon's stderr often goes to a file, not to journald, which would
 * stamp it.
 */
import { err } from './errors.js';

/** Log levels, least to most severe. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** Extra structured fields of one line (JSON mode prints them as keys, text mode as `key=value`). */
export type LogFields = Readonly<Record<string, string | number | boolean | null | undefined>>;

/** A component's logger. Children share their root's level and sink. */
export interface Logger {
  readonly level: LogLevel;
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger for a sub-component (`api`), optionally about one device. */
  child(component: string, uuid?: string): Logger;
}

/** Where lines go: anything with a `write(string)` (process.stderr by default; tests pass a collector). */
export interface LogSink {
  write(line: string): unknown;
}

export interface LoggerOptions {
  readonly level?: LogLevel;
  readonly json?: boolean;
  readonly sink?: LogSink;
  readonly component?: string;
  /** Clock for the timestamp (JSON `time`, the text line's first word); injected so tests are deterministic. */
  readonly now?: () => Date;
}

export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value);
}

/** A `--log-level` value as given on a command line (absent stays absent); EINVAL naming the levels otherwise. */
export function logLevelOption(value: string | undefined): LogLevel | undefined {
  if (value !== undefined && !isLogLevel(value)) throw err('EINVAL', `--log-level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(value)}`);
  return value;
}

/** Create the root logger. The caller owns the sink (the logger never closes it). */
export function createLogger(options: LoggerOptions = {}): Logger {
  const root = {
    level: options.level ?? 'info',
    json: options.json ?? false,
    sink: options.sink ?? process.stderr,
    now: options.now ?? (() => new Date()),
  };
  return new ComponentLogger(root, options.component ?? 'umdevd', undefined);
}

interface Root {
  readonly level: LogLevel;
  readonly json: boolean;
  readonly sink: LogSink;
  readonly now: () => Date;
}

/** A component's logger: its methods live on the prototype, so a logger per device costs one small object. */
class ComponentLogger implements Logger {
  readonly #root: Root;
  readonly #component: string;
  readonly #uuid: string | undefined;

  constructor(root: Root, component: string, uuid: string | undefined) {
    this.#root = root;
    this.#component = component;
    this.#uuid = uuid;
  }

  get level(): LogLevel {
    return this.#root.level;
  }

  debug(message: string, fields?: LogFields): void {
    this.#emit('debug', message, fields);
  }

  info(message: string, fields?: LogFields): void {
    this.#emit('info', message, fields);
  }

  warn(message: string, fields?: LogFields): void {
    this.#emit('warn', message, fields);
  }

  error(message: string, fields?: LogFields): void {
    this.#emit('error', message, fields);
  }

  child(component: string, uuid?: string): Logger {
    return new ComponentLogger(this.#root, component, uuid ?? this.#uuid);
  }

  #emit(level: LogLevel, message: string, fields: LogFields | undefined): void {
    const root = this.#root;
    if (LOG_LEVELS.indexOf(level) < LOG_LEVELS.indexOf(root.level)) return;
    root.sink.write(formatLine(root, level, this.#component, this.#uuid, message, fields));
  }
}

function formatLine(
  root: Root,
  level: LogLevel,
  component: string,
  uuid: string | undefined,
  message: string,
  fields: LogFields | undefined,
): string {
  const extra = Object.entries(fields ?? {}).filter(([, v]) => v !== undefined);
  if (root.json) {
    const line: Record<string, unknown> = { time: root.now().toISOString(), level, component };
    if (uuid !== undefined) line.uuid = uuid;
    line.msg = message;
    for (const [k, v] of extra) if (!(k in line)) line[k] = v;
    return `${JSON.stringify(line)}\n`;
  }
  const where = uuid === undefined ? component : `${component}[${uuid}]`;
  const tail = extra.map(([k, v]) => ` ${k}=${typeof v === 'string' && /\s/.test(v) ? JSON.stringify(v) : String(v)}`);
  return `${root.now().toISOString()} ${level.padEnd(5)} ${where}: ${message}${tail.join('')}\n`;
}

/** The message of anything thrown, for a log line (`UmdevError`s get their errno in front). */
export function describeError(e: unknown): string {
  if (e instanceof Error) {
    const errno = (e as { errno?: unknown }).errno;
    return typeof errno === 'string' ? `${errno}: ${e.message}` : e.message;
  }
  return String(e);
}
