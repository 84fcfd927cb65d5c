/**
 * Concepts: a small hand-written validator for JSON read from people (the config file, API bodies). Each check takes
 * the value, its path (`parents[0].ports`) and an issue list; a failed check records "path: expected …, got …" and
 * returns undefined, so one pass reports every bad field at once instead of stopping at the first.
 */
import { err, type UmdevError } from './errors.js';

/** Collected problems of one validation pass. */
export class Issues {
  readonly list: string[] = [];

  add(path: string, expected: string, got: unknown): undefined {
    this.list.push(`${path || '(top level)'}: expected ${expected}, got ${describe(got)}`);
    return undefined;
  }

  /** `EINVAL` listing every problem, or undefined when there were none. */
  toError(what: string): UmdevError | undefined {
    if (this.list.length === 0) return undefined;
    return err('EINVAL', `${what}:\n  ${this.list.join('\n  ')}`);
  }
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  return `${typeof v} ${String(v)}`;
}

/** Join a path and a key the way people read it: `api.port`, `parents[2]`. */
export function at(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path === '' ? key : `${path}.${key}`;
}

/**
 * A plain object whose keys are all in `allowed`; unknown keys are reported (a typo must not be silently ignored).
 * Returns the object, or undefined when it is not one.
 */
export function object(
  v: unknown,
  path: string,
  issues: Issues,
  allowed: readonly string[],
): Readonly<Record<string, unknown>> | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return issues.add(path, 'an object', v);
  const rec = v as Record<string, unknown>;
  for (const key of Object.keys(rec)) {
    if (!allowed.includes(key)) issues.list.push(`${at(path, key)}: unknown key (allowed: ${allowed.join(', ')})`);
  }
  return rec;
}

export function string(v: unknown, path: string, issues: Issues, opts: { nonEmpty?: boolean } = {}): string | undefined {
  if (typeof v !== 'string') return issues.add(path, 'a string', v);
  if (opts.nonEmpty === true && v.length === 0) return issues.add(path, 'a non-empty string', v);
  return v;
}

export function boolean(v: unknown, path: string, issues: Issues): boolean | undefined {
  if (typeof v !== 'boolean') return issues.add(path, 'true or false', v);
  return v;
}

export function integer(v: unknown, path: string, issues: Issues, min: number, max: number): number | undefined {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    return issues.add(path, `an integer from ${min} to ${max}`, v);
  }
  return v;
}

export function oneOf<T extends string>(v: unknown, path: string, issues: Issues, choices: readonly T[]): T | undefined {
  if (typeof v !== 'string' || !(choices as readonly string[]).includes(v)) {
    return issues.add(path, `one of ${choices.map((c) => JSON.stringify(c)).join(', ')}`, v);
  }
  return v as T;
}

/** A file mode: an octal string (`"0660"`, `"660"`) or a number (0o660 written as 432). */
export function fileMode(v: unknown, path: string, issues: Issues): number | undefined {
  if (typeof v === 'string' && /^0?[0-7]{3,4}$/.test(v)) return Number.parseInt(v, 8) & 0o7777;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0o7777) return v;
  return issues.add(path, 'a file mode as an octal string such as "0660"', v);
}

export function array(v: unknown, path: string, issues: Issues): readonly unknown[] | undefined {
  if (!Array.isArray(v)) return issues.add(path, 'an array', v);
  return v;
}

/** A string that `problem` accepts (a name, a UUID); otherwise the problem's words are what was expected. */
export function named(v: unknown, path: string, issues: Issues, problem: (s: string) => string | undefined): string | undefined {
  if (typeof v !== 'string') return issues.add(path, 'a string', v);
  const p = problem(v);
  return p === undefined ? v : issues.add(path, p, v);
}

/** A name from an API path or query: returned when `problem` accepts it, else `EINVAL` saying what was expected. */
export function checked(v: string, path: string, problem: (s: string) => string | undefined): string {
  const issues = new Issues();
  named(v, path, issues, problem);
  const e = issues.toError('bad request');
  if (e !== undefined) throw e;
  return v;
}
