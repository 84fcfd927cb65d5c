/**
 * Concepts: the user and group ids device hosts run as, one of each per host, never shared: code running in one host
 * then cannot signal, trace or read another (the kernel refuses across users), nor anything else on the machine.
 * The ids come from a configured range (default systemd's DynamicUser range, 61184–65519, which no package's user
 * takes); ids the passwd or group database names are left out when the daemon starts, and an id still held by a
 * running process (a systemd dynamic user, a host that has not been reaped) is skipped when a host is started.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { err } from '../../errors.js';

/** systemd's DynamicUser range (docs/UIDS-GIDS.md in systemd): 61184–65519. */
export const DEFAULT_HOST_IDS = { first: 61184, count: 4336 } as const;

/** Ids named in a passwd or group file (the third field). */
function namedIds(file: string): Set<number> {
  const out = new Set<number>();
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const id = Number(line.split(':')[2]);
    if (line !== '' && Number.isInteger(id)) out.add(id);
  }
  return out;
}

/** Uids of running processes (the owner of /proc/<pid>). */
function runningUids(proc = '/proc'): Set<number> {
  const out = new Set<number>();
  for (const name of readdirSync(proc)) {
    if (!/^\d+$/.test(name)) continue;
    try {
      out.add(statSync(`${proc}/${name}`).uid);
    } catch {
      // Gone while we looked.
    }
  }
  return out;
}

/** The ids one daemon gives its hosts. Owned by the daemon's device hosts. */
export class HostIds {
  readonly #free: number[];
  readonly #taken = new Set<number>();
  readonly #proc: string;

  /** EINVAL when the range leaves no id once the passwd and group databases are taken out. */
  constructor(range: { readonly first: number; readonly count: number }, files: { passwd?: string; group?: string; proc?: string } = {}) {
    const named = namedIds(files.passwd ?? '/etc/passwd');
    for (const g of namedIds(files.group ?? '/etc/group')) named.add(g);
    this.#free = [];
    for (let id = range.first + range.count - 1; id >= range.first; id--) if (!named.has(id)) this.#free.push(id);
    if (this.#free.length === 0) throw err('EINVAL', `deviceHosts.ids: every id in ${range.first}..${range.first + range.count - 1} is a user or group already`);
    this.#proc = files.proc ?? '/proc';
  }

  /** Ids left to give. */
  get free(): number {
    return this.#free.length;
  }

  /** An id no host and no running process has; EUSERS when the range is used up. Give it back with `give`. */
  take(): number {
    const busy = runningUids(this.#proc);
    for (let i = this.#free.length - 1; i >= 0; i--) {
      const id = this.#free[i]!;
      if (busy.has(id)) continue;
      this.#free.splice(i, 1);
      this.#taken.add(id);
      return id;
    }
    throw err('EUSERS', `no device host id left (${this.#taken.size} hosts run; every other id of the range is in use)`);
  }

  /** Back to the range once the host that had it is gone (reaped). */
  give(id: number): void {
    if (this.#taken.delete(id)) this.#free.push(id);
  }
}
