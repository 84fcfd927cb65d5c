/**
 * A rate limit for repeated log lines: a failure that repeats in a loop (accept failing with EMFILE, a reconnect
 * storm) must not write millions of lines. Each key may log `burst` lines per `intervalMs`; the rest are counted
 * and the next line that gets through says how many were suppressed.
 */
import type { LogLevel } from './log.js';

/** Logs `message` at `level` under `key` unless that key is over its rate; owned by one component. */
export type LimitedLog = (key: string, level: LogLevel, message: string) => void;

export interface LogLimitOptions {
  /** Lines per key per interval (default 5). */
  readonly burst?: number;
  /** Interval length in ms (default 10 s). */
  readonly intervalMs?: number;
  /** Clock (ms), for tests. */
  readonly now?: () => number;
}

/** Wraps `log` (any level → line function) with a per-key rate limit. */
export function limitLog(log: (level: LogLevel, message: string) => void, options: LogLimitOptions = {}): LimitedLog {
  const burst = options.burst ?? 5;
  const interval = options.intervalMs ?? 10_000;
  const now = options.now ?? Date.now;
  // Made on the first line: most owners (one per device) never log a limited line.
  let keys: Map<string, { start: number; count: number; suppressed: number }> | undefined;
  return (key, level, message) => {
    keys ??= new Map();
    const t = now();
    let k = keys.get(key);
    if (!k || t - k.start >= interval) {
      const suppressed = k?.suppressed ?? 0;
      // Forget quiet keys so the map stays as small as the set of keys active in one interval.
      if (keys.size > 1000) keys.clear();
      k = { start: t, count: 0, suppressed: 0 };
      keys.set(key, k);
      if (suppressed > 0) message = `${message} (${suppressed} similar messages suppressed)`;
    }
    if (k.count >= burst) {
      k.suppressed++;
      return;
    }
    k.count++;
    log(level, message);
  };
}
