#!/usr/bin/env node
/**
 * `umdevctl`: an mdevctl-compatible CLI. This file only parses arguments (`util.parseArgs`), checks the environment
 * as mdevctl does, dispatches to one command function, and turns a `UmdevError` into mdevctl's stderr text and exit
 * code (1; usage errors exit 2, as clap does).
 */
import { readFile, realpath } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { exitCode, UmdevError } from '../core/errors.js';
import { defineCommand } from './define.js';
import { eventsCommand } from './events.js';
import { fail, formatError, formatErrorJson, osError } from './failure.js';
import type { CliContext, Writer } from './io.js';
import { listCommand } from './list.js';
import { modifyCommand } from './modify.js';
import { onlineCommand } from './online.js';
import { resetCommand } from './reset.js';
import { startParentMdevsCommand } from './start-parent-mdevs.js';
import { startCommand } from './start.js';
import { stopCommand } from './stop.js';
import { exists } from './sysfs-read.js';
import { Sysroot } from './sysroot.js';
import { typesCommand } from './types.js';
import { undefineCommand } from './undefine.js';
import { parseUuid } from './uuid.js';

type Options = NonNullable<ParseArgsConfig['options']>;

const GLOBAL: Options = {
  'sysfs-root': { type: 'string' },
  'config-root': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};
const UUID: Options = { uuid: { type: 'string', short: 'u' } };
const PARENT: Options = { parent: { type: 'string', short: 'p' } };
const TYPE: Options = { type: { type: 'string', short: 't' } };
/** online/offline: the devices, and where umdevd's API is (else the sysfs files are written). */
const GROUP: Options = { uuid: { type: 'string', short: 'u', multiple: true }, api: { type: 'string' }, 'state-dir': { type: 'string' } };

const COMMANDS: Record<string, { options: Options; positionals?: number; about: string }> = {
  define: { options: { ...UUID, ...PARENT, ...TYPE, auto: { type: 'boolean', short: 'a' }, manual: { type: 'boolean', short: 'm' }, jsonfile: { type: 'string' } }, about: 'Define a persistent mediated device' },
  undefine: { options: { ...UUID, ...PARENT }, about: 'Undefine a persistent mediated device' },
  modify: {
    options: {
      ...UUID, ...PARENT, ...TYPE,
      auto: { type: 'boolean', short: 'a' }, manual: { type: 'boolean', short: 'm' },
      addattr: { type: 'string' }, value: { type: 'string' }, delattr: { type: 'boolean' }, index: { type: 'string', short: 'i' },
    },
    about: 'Modify the definition of a mediated device',
  },
  start: { options: { ...UUID, ...PARENT, ...TYPE, jsonfile: { type: 'string' } }, about: 'Start a mediated device' },
  stop: { options: { ...UUID }, about: 'Stop a mediated device' },
  list: {
    options: { ...UUID, ...PARENT, defined: { type: 'boolean', short: 'd' }, dumpjson: { type: 'boolean' }, verbose: { type: 'boolean', short: 'v' } },
    about: 'List mediated devices',
  },
  types: { options: { ...PARENT, dumpjson: { type: 'boolean' } }, about: 'List available mediated device types' },
  'start-parent-mdevs': { options: {}, positionals: 1, about: 'Start the auto-start devices of one parent' },
  online: { options: { ...GROUP }, about: 'Set one or more devices online (all or none)' },
  offline: { options: { ...GROUP }, about: 'Set one or more devices offline (all or none)' },
  reset: { options: { ...UUID }, about: 'Reset a mediated device' },
  events: { options: { api: { type: 'string' }, 'state-dir': { type: 'string' }, count: { type: 'string', short: 'n' } }, about: "Follow umdevd's event stream (NDJSON)" },
};

/** A command-line mistake: clap's exit code 2. */
class UsageError extends Error {}

type Values = Record<string, string | boolean | string[] | boolean[] | undefined>;

function str(v: Values, k: string): string | undefined {
  const x = v[k];
  return typeof x === 'string' ? x : undefined;
}
function bool(v: Values, k: string): boolean {
  return v[k] === true;
}
function uuidArg(s: string): string {
  const u = parseUuid(s);
  if (u === undefined) throw new UsageError(`Invalid value "${s}" for '--uuid <UUID>': invalid UUID`);
  return u;
}
function uuidOpt(v: Values): string | undefined {
  const s = str(v, 'uuid');
  return s === undefined ? undefined : uuidArg(s);
}
function required(names: string[]): never {
  throw new UsageError(`The following required arguments were not provided:\n${names.map((n) => `    ${n}\n`).join('')}`.trimEnd());
}
function conflict(a: string, b: string): never {
  throw new UsageError(`The argument '--${a}' cannot be used with '--${b}'`);
}
function u32(v: Values, k: string, label: string): number | undefined {
  const s = str(v, k);
  if (s === undefined) return undefined;
  if (!/^\+?[0-9]+$/.test(s) || Number(s) > 0xffffffff) throw new UsageError(`Invalid value "${s}" for '${label}': invalid digit found in string`);
  return Number(s);
}

function helpText(version: string): string {
  const cmds = Object.entries(COMMANDS).map(([n, c]) => `    ${n.padEnd(20)}${c.about}\n`).join('');
  return `umdevctl ${version}\nAn mdevctl-compatible mediated device management utility\n\nUSAGE:\n    umdevctl [--sysfs-root DIR] [--config-root DIR] [--json] <SUBCOMMAND> [OPTIONS]\n\nSUBCOMMANDS:\n${cmds}\nRoots default to /sys and /etc/mdevctl.d (or UMDEV_SYSFS_ROOT / UMDEV_CONFIG_ROOT).\nonline/offline use umdevd's API when known (--api SOCKET|URL, --state-dir DIR, or UMDEV_API), else the sysfs files.\n`;
}

async function version(): Promise<string> {
  try {
    const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** mdevctl's self_check: the definitions directory and both script directories must exist. */
async function selfCheck(root: Sysroot): Promise<void> {
  for (const dir of [root.definitions, root.calloutDirs.callouts, root.calloutDirs.notifiers]) {
    if (!(await exists(dir))) {
      throw fail('ENOENT', `Required directory ${JSON.stringify(dir)} doesn't exist. This may indicate a packaging or installation error`);
    }
  }
}

async function dispatch(
  ctx: CliContext,
  cmd: string,
  v: Values,
  positionals: string[],
  env: Readonly<Record<string, string | undefined>>,
  signal?: AbortSignal,
): Promise<void> {
  switch (cmd) {
    case 'types':
      return typesCommand(ctx, { parent: str(v, 'parent'), dumpjson: bool(v, 'dumpjson') });
    case 'list':
      return listCommand(ctx, { defined: bool(v, 'defined'), dumpjson: bool(v, 'dumpjson'), verbose: bool(v, 'verbose'), uuid: uuidOpt(v), parent: str(v, 'parent') });
    case 'define':
      if (str(v, 'jsonfile') !== undefined && str(v, 'type') !== undefined) conflict('jsonfile', 'type');
      if (str(v, 'jsonfile') !== undefined && bool(v, 'auto')) conflict('jsonfile', 'auto');
      if (bool(v, 'auto') && bool(v, 'manual')) conflict('auto', 'manual');
      if (str(v, 'uuid') === undefined && str(v, 'parent') === undefined) required(['--uuid <UUID>', '--parent <PARENT>']);
      return defineCommand(ctx, { uuid: uuidOpt(v), parent: str(v, 'parent'), type: str(v, 'type'), auto: bool(v, 'auto'), jsonfile: str(v, 'jsonfile') });
    case 'undefine':
      if (str(v, 'uuid') === undefined) required(['--uuid <UUID>']);
      return undefineCommand(ctx, { uuid: uuidOpt(v) ?? '', parent: str(v, 'parent') });
    case 'modify':
      if (str(v, 'uuid') === undefined) required(['--uuid <UUID>']);
      if (bool(v, 'auto') && bool(v, 'manual')) conflict('auto', 'manual');
      if (str(v, 'addattr') !== undefined && str(v, 'value') === undefined) required(['--value <attr_value>']);
      return modifyCommand(ctx, {
        uuid: uuidOpt(v) ?? '', parent: str(v, 'parent'), type: str(v, 'type'), auto: bool(v, 'auto'), manual: bool(v, 'manual'),
        addattr: str(v, 'addattr'), value: str(v, 'value'), delattr: bool(v, 'delattr'), index: u32(v, 'index', '--index <INDEX>'),
      });
    case 'start':
      if (str(v, 'jsonfile') !== undefined && str(v, 'type') !== undefined) conflict('jsonfile', 'type');
      if (str(v, 'uuid') === undefined && str(v, 'parent') === undefined) required(['--uuid <UUID>', '--parent <PARENT>']);
      return startCommand(ctx, { uuid: uuidOpt(v), parent: str(v, 'parent'), type: str(v, 'type'), jsonfile: str(v, 'jsonfile') });
    case 'stop':
      if (str(v, 'uuid') === undefined) required(['--uuid <UUID>']);
      return stopCommand(ctx, { uuid: uuidOpt(v) ?? '' });
    case 'start-parent-mdevs':
      if (positionals.length !== 1) required(['<PARENT>']);
      return startParentMdevsCommand(ctx, { parent: positionals[0] });
    case 'online':
    case 'offline': {
      const raw = (v.uuid as string[] | undefined) ?? [];
      if (raw.length === 0) required(['--uuid <UUID>...']);
      const uuids = raw.map(uuidArg);
      return onlineCommand(ctx, { uuids, online: cmd === 'online', api: str(v, 'api'), stateDir: str(v, 'state-dir'), env });
    }
    case 'reset':
      if (str(v, 'uuid') === undefined) required(['--uuid <UUID>']);
      return resetCommand(ctx, { uuid: uuidOpt(v) ?? '' });
    case 'events':
      return eventsCommand(ctx, { api: str(v, 'api'), stateDir: str(v, 'state-dir'), count: u32(v, 'count', '--count <N>'), signal, env });
    default:
      throw new UsageError(`Found argument '${cmd}' which wasn't expected, or isn't valid in this context`);
  }
}

/** What `run` needs from its host process. */
export interface RunIo {
  readonly stdout: Writer;
  readonly stderr: Writer;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Aborts long-running commands (`events`). */
  readonly signal?: AbortSignal;
  readonly now?: () => Date;
}

function findCommand(argv: readonly string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--sysfs-root' || a === '--config-root') i++;
    else if (!a.startsWith('-')) return i;
  }
  return -1;
}

/** Runs one umdevctl invocation (`argv` without node and script) and returns its exit code. */
export async function run(argv: readonly string[], io: RunIo): Promise<number> {
  const at = findCommand(argv);
  const cmd = at < 0 ? undefined : argv[at];
  const spec = cmd === undefined ? undefined : COMMANDS[cmd];
  const rest = at < 0 ? [...argv] : [...argv.slice(0, at), ...argv.slice(at + 1)];
  const options = { ...GLOBAL, ...(spec?.options ?? {}), version: { type: 'boolean' as const, short: 'V' } };
  let values: Values;
  let positionals: string[] = [];
  let usage: UsageError | undefined;
  try {
    const parsed = parseArgs({ args: rest, options, allowPositionals: (spec?.positionals ?? 0) > 0, strict: true });
    values = parsed.values as Values;
    positionals = parsed.positionals;
  } catch (e) {
    usage = new UsageError(describeParseError(e));
    values = parseArgs({ args: rest, options, allowPositionals: true, strict: false }).values as Values;
  }
  const json = values.json === true;
  const ctx: CliContext = {
    root: Sysroot.resolve({ sysfsRoot: str(values, 'sysfs-root'), configRoot: str(values, 'config-root') }, io.env),
    stdout: io.stdout,
    stderr: io.stderr,
    json,
    now: io.now,
  };
  if (values.help === true || (cmd === undefined && values.version !== true)) {
    (cmd === undefined && values.help !== true ? io.stderr : io.stdout).write(helpText(await version()));
    return values.help === true ? 0 : 2;
  }
  if (values.version === true) {
    io.stdout.write(`umdevctl ${await version()}\n`);
    return 0;
  }
  try {
    // As mdevctl: the environment is checked before the arguments.
    await selfCheck(ctx.root);
    if (usage !== undefined) throw usage;
    if (spec === undefined) throw new UsageError(`Found argument '${cmd ?? ''}' which wasn't expected, or isn't valid in this context`);
    await dispatch(ctx, cmd ?? '', values, positionals, io.env, io.signal);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      if (json) io.stderr.write(formatErrorJson(new UmdevError('EINVAL', e.message)));
      else io.stderr.write(`error: ${e.message}\n\nFor more information try --help\n`);
      return 2;
    }
    const ue = osError(e);
    if (ue.errno === 'EIO' && ue.message.startsWith('internal error:')) io.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    io.stderr.write(json ? formatErrorJson(ue) : formatError(ue));
    return exitCode(ue.errno);
  }
}

function describeParseError(e: unknown): string {
  const code = (e as { code?: string }).code;
  const msg = e instanceof Error ? e.message : String(e);
  const arg = /'([^']+)'/.exec(msg)?.[1];
  if ((code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') && arg !== undefined) {
    return `Found argument '${arg}' which wasn't expected, or isn't valid in this context`;
  }
  return msg;
}

async function isMain(): Promise<boolean> {
  if (process.argv[1] === undefined) return false;
  try {
    return (await realpath(process.argv[1])) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (await isMain()) {
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  process.exitCode = await run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: ac.signal });
}
