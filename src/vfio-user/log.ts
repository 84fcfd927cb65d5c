/**
 * The logger of the vfio-user server: one line per event, prefixed `vfio-user[<uuid>]`. Failed client requests are
 * `debug` (a client's mistake is not the server's), bugs are `error`. The sink is injectable so the daemon can route
 * lines and tests can capture them; by default `warn` and `error` go to stderr and `debug`/`info` only when
 * `UMDEV_DEBUG` is set.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Where log lines go. */
export type LogSink = (level: LogLevel, line: string) => void;

export interface Logger {
  (level: LogLevel, message: string): void;
  readonly prefix: string;
}

const verbose = (): boolean => Boolean(process.env.UMDEV_DEBUG);

/** The default sink: stderr, quiet below `warn` unless UMDEV_DEBUG is set. */
export const stderrSink: LogSink = (level, line) => {
  if (level === 'warn' || level === 'error' || verbose()) process.stderr.write(`${level}: ${line}\n`);
};

/** A logger for one device (`uuid`), or for the bus driver as a whole when `uuid` is absent. */
export function makeLogger(uuid: string | undefined, sink: LogSink = stderrSink): Logger {
  const prefix = uuid === undefined ? 'vfio-user' : `vfio-user[${uuid}]`;
  const log = ((level: LogLevel, message: string) => sink(level, `${prefix}: ${message}`)) as Logger;
  Object.defineProperty(log, 'prefix', { value: prefix });
  return log;
}
