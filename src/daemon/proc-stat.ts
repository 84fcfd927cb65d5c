/**
 * Concepts: a process's CPU time and resident memory, read from `/proc/<pid>/stat` as `ps` and Prometheus's own
 * process collector do: fields 14 and 15 (utime, stime) in clock ticks, field 24 (rss) in pages. The command name
 * (field 2) may hold spaces and parentheses, so fields are counted from its closing `)`.
 */
import { readFileSync } from 'node:fs';

/** Linux's USER_HZ and page size on every platform umdev runs on (x86-64, arm64 with 4 KiB pages). */
const CLOCK_TICKS = 100;
const PAGE_SIZE = 4096;

/** CPU seconds (user + system) and resident bytes of a process. Plain data. */
export interface ProcStat {
  readonly cpuSeconds: number;
  readonly rssBytes: number;
  /** Seconds since boot when the process started (field 22). */
  readonly startTicks: number;
}

/** Parse the text of `/proc/<pid>/stat`; undefined when it is not in that shape. */
export function parseProcStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  // Fields after the name start at field 3 (state); index 0 here is field 3.
  const f = text.slice(close + 2).trim().split(' ');
  const utime = Number(f[11]);
  const stime = Number(f[12]);
  const start = Number(f[19]);
  const rss = Number(f[21]);
  if (![utime, stime, start, rss].every((n) => Number.isFinite(n) && n >= 0)) return undefined;
  return { cpuSeconds: (utime + stime) / CLOCK_TICKS, rssBytes: rss * PAGE_SIZE, startTicks: start };
}

/** The figures of process `pid` now, or undefined when it is gone (or not readable). */
export function procStat(pid: number | 'self'): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return undefined;
  }
}
