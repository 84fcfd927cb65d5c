/**
 * The vfio-user server's view of umdev's one logger (`src/log.ts`): a callable per device whose lines read
 * `vfio-user[<uuid>]: …`. Failed client requests are `debug` (a client's mistake is not the server's), bugs are
 * `error`. Without a logger from the caller, lines go to stderr at `warn` and above, or everything when
 * `UMDEV_DEBUG` is set.
 */
import { createLogger, type LogLevel, type Logger as BaseLogger } from '../log.js';

export type { LogLevel };

/** Logs one message at a level. */
export type Logger = (level: LogLevel, message: string) => void;

let fallback: BaseLogger | undefined;

/** The logger used when the bus driver was given none (created on first use). */
function defaultBase(): BaseLogger {
  fallback ??= createLogger({ component: 'vfio-user', level: process.env.UMDEV_DEBUG ? 'debug' : 'warn' });
  return fallback;
}

/** A logger for one device (`uuid`), or for the bus driver as a whole when `uuid` is absent. */
export function makeLogger(uuid: string | undefined, base: BaseLogger = defaultBase()): Logger {
  const target = base.child('vfio-user', uuid);
  return (level, message) => target[level](message);
}
