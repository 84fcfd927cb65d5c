/**
 * Concepts: one parsed umdevctl invocation, and the checks a command's `run` makes of it before doing anything,
 * worded as clap words them for mdevctl 1.2.0 (missing arguments, conflicts, bad values), so umdevctl's usage errors
 * read exactly as mdevctl's.
 */
import { parseUuid, uuidError } from '../mdevctl/uuid.js';
import type { Invocation, OptionDecl, Values } from './table/types.js';
import { UsageError } from './usage.js';


/** A command's child exited non-zero (`exec`, `vm`, `migrate`): umdevctl exits with the same status, printing nothing. */
export class ExitStatus extends Error {
  readonly code: number;
  constructor(code: number) {
    super(`exit status ${code}`);
    this.code = code;
  }
}

/** Resolve a command's exit status: 0 returns, anything else ends umdevctl with it. */
export function exitWith(code: number): void {
  if (code !== 0) throw new ExitStatus(code);
}

export function str(v: Values, k: string): string | undefined {
  const x = v[k];
  return typeof x === 'string' ? x : undefined;
}

export function bool(v: Values, k: string): boolean {
  return v[k] === true;
}

/** The strings of a repeatable option. */
export function strings(v: Values, k: string): string[] {
  const x = v[k];
  return Array.isArray(x) ? x.filter((s): s is string => typeof s === 'string') : [];
}

export function uuidArg(s: string): string {
  const u = parseUuid(s);
  if (u === undefined) throw new UsageError(`Invalid value "${s}" for '--uuid <UUID>': ${uuidError(s)}`);
  return u;
}

export function uuidOpt(v: Values): string | undefined {
  const s = str(v, 'uuid');
  return s === undefined ? undefined : uuidArg(s);
}

/**
 * Missing arguments: `extra` are required only because of what was given (`--value` for `--addattr`); `group` is a
 * required group none of whose members was given (`--uuid` or `--parent` for define/start).
 */
export function required(inv: Invocation, names: string[], opts: { extra?: string[]; group?: string[] } = {}): never {
  const first = [...(inv.decl.required ?? []), ...(opts.extra ?? [])];
  throw new UsageError(
    `The following required arguments were not provided:\n${names.map((n) => `    ${n}\n`).join('')}`.trimEnd(),
    { program: inv.program, cmd: inv.cmd, used: inv.used, first, last: opts.group },
  );
}

/** clap names the conflicting argument given first, and drops the other from the usage line. */
export function conflicts(inv: Invocation, pairs: ReadonlyArray<readonly [string, string]>): void {
  for (const [a, b] of pairs) {
    const ia = inv.used.indexOf(a);
    const ib = inv.used.indexOf(b);
    if (ia < 0 || ib < 0) continue;
    const [x, y] = ia < ib ? [a, b] : [b, a];
    throw new UsageError(`The argument '${label(inv.decl.options, x)}' cannot be used with '${label(inv.decl.options, y)}'`, { program: inv.program, cmd: inv.cmd, used: inv.used, first: inv.decl.required, drop: y });
  }
}

/** An unsigned 32-bit option (`--index`, `--count`), with clap's error for anything else. */
export function u32(v: Values, k: string, label: string): number | undefined {
  const s = str(v, k);
  if (s === undefined) return undefined;
  if (!/^\+?[0-9]+$/.test(s) || Number(s) > 0xffffffff) throw new UsageError(`Invalid value "${s}" for '${label}': invalid digit found in string`);
  return Number(s);
}

/** How clap names option `name` of a command in its messages and usage lines: `--uuid <UUID>`, `--auto`. */
export function label(options: readonly OptionDecl[], name: string): string {
  const o = options.find((x) => x.long === name);
  return o?.value === undefined ? `--${name}` : `--${name} ${o.value}`;
}
