/**
 * Concepts: the kernel objects every client's DMA windows hold, counted for the whole daemon. A window backed by a
 * sealed memfd holds one mapping (against `vm.max_map_count`: past it every mmap fails, V8's own included, and the
 * process dies); a window backed by another file holds one fd (against RLIMIT_NOFILE). Each client is also bounded
 * by the `max_dma_maps` it was told, but many devices' clients together must still leave the process room: when the
 * budget is spent, DMA_MAP gets ENOSPC and the daemon goes on serving.
 */
import { readFileSync } from 'node:fs';
import { err } from '../errors.js';

/** Shared by every connection of one bus driver; each window takes one unit and gives it back when dropped. */
export class DmaBudget {
  readonly limit: number;
  #used = 0;

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 0) throw err('EINVAL', `DMA budget ${limit} is not a count`);
    this.limit = limit;
  }

  get used(): number {
    return this.#used;
  }

  /** Take one unit, or ENOSPC when the daemon holds `limit` already. Pairs with `give()` when the window goes. */
  take(what: string): void {
    if (this.#used >= this.limit) throw err('ENOSPC', `${what}: the daemon already holds ${this.limit} DMA mappings and fds`);
    this.#used++;
  }

  give(): void {
    if (this.#used > 0) this.#used--;
  }
}

/** The most fd-backed windows a DMA budget allows by default, whatever the limits. */
const CEILING = 16384;

/**
 * A quarter of `vm.max_map_count` and of the soft RLIMIT_NOFILE, at most 16384: the rest is left to V8, libuv,
 * the FUSE session, sockets and eventfds.
 */
export function defaultDmaBudget(): number {
  const maps = readNumber('/proc/sys/vm/max_map_count', /^(\d+)/) ?? 65530;
  const files = readNumber('/proc/self/limits', /^Max open files\s+(\d+)/m) ?? 1024;
  return Math.max(1, Math.min(CEILING, Math.floor(maps / 4), Math.floor(files / 4)));
}

function readNumber(path: string, re: RegExp): number | undefined {
  try {
    const m = re.exec(readFileSync(path, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
