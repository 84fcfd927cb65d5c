#!/usr/bin/env node
/**
 * `umdevctl`: an mdevctl-compatible CLI. This file only parses arguments (`util.parseArgs`), checks the environment
 * as mdevctl does, dispatches to one command function, and turns a `UmdevError` into mdevctl's stderr text and exit
 * code (1; usage errors exit 2, as clap does). Each command's module is imported when that command runs, so a call
 * loads only what it uses: start-up is most of what a `umdevctl list` costs.
 */
import { getEventListeners } from 'node:events';
import { realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { exitCode, UmdevError } from '../errors.js';
import { fail, formatError, formatErrorJson, osError } from '../mdevctl/failure.js';
import { debug, FdWriter, logFilter, type CliContext, type Writer } from './io.js';
import { label, UsageError } from './usage.js';
import { exists } from './sysfs-read.js';
import { readInline } from '../mdevctl/read-text.js';
import { resolveRoots } from './roots.js';
import { parseUuid, uuidError } from './uuid.js';
import { didYouMean } from './suggest.js';

type Options = NonNullable<ParseArgsConfig['options']>;

const GLOBAL: Options = {
  'sysfs-root': { type: 'string' },
  'config-root': { type: 'string' },
  /** umdevd's state dir: its tree and definitions for the mdevctl commands, its API for the others. */
  'state-dir': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};
const UUID: Options = { uuid: { type: 'string', short: 'u' } };
const PARENT: Options = { parent: { type: 'string', short: 'p' } };
const TYPE: Options = { type: { type: 'string', short: 't' } };
/** online/offline: the devices, and where umdevd's API is (else the sysfs files are written). */
const GROUP: Options = { uuid: { type: 'string', short: 'u', multiple: true }, api: { type: 'string' }, 'state-dir': { type: 'string' } };

const COMMANDS: Record<string, { options: Options; positionals?: number }> = {
  define: { options: { ...UUID, ...PARENT, ...TYPE, auto: { type: 'boolean', short: 'a' }, manual: { type: 'boolean', short: 'm' }, jsonfile: { type: 'string' } } },
  undefine: { options: { ...UUID, ...PARENT } },
  modify: {
    options: {
      ...UUID, ...PARENT, ...TYPE,
      auto: { type: 'boolean', short: 'a' }, manual: { type: 'boolean', short: 'm' },
      addattr: { type: 'string' }, value: { type: 'string' }, delattr: { type: 'boolean' }, index: { type: 'string', short: 'i' },
    },
  },
  start: { options: { ...UUID, ...PARENT, ...TYPE, jsonfile: { type: 'string' } } },
  stop: { options: { ...UUID } },
  list: {
    options: { ...UUID, ...PARENT, defined: { type: 'boolean', short: 'd' }, dumpjson: { type: 'boolean' }, verbose: { type: 'boolean', short: 'v' } },
  },
  types: { options: { ...PARENT, dumpjson: { type: 'boolean' } } },
  'start-parent-mdevs': { options: {}, positionals: 1 },
  online: { options: { ...GROUP } },
  offline: { options: { ...GROUP } },
  reset: { options: { ...UUID } },
  events: { options: { api: { type: 'string' }, 'state-dir': { type: 'string' }, count: { type: 'string', short: 'n' } } },
  dashboard: { options: { api: { type: 'string' }, 'state-dir': { type: 'string' }, listen: { type: 'string' }, open: { type: 'boolean' }, peer: { type: 'string', multiple: true } } },
  screenshot: { options: { ...UUID, api: { type: 'string' }, 'state-dir': { type: 'string' } }, positionals: 2 },
  exec: { options: { 'state-dir': { type: 'string' } }, positionals: Infinity },
  shell: { options: { 'state-dir': { type: 'string' } } },
  'qemu-args': { options: { ...UUID, 'state-dir': { type: 'string' }, memory: { type: 'string', short: 'm' } }, positionals: Infinity },
  vm: { options: { 'state-dir': { type: 'string' }, memory: { type: 'string', short: 'm' }, console: { type: 'boolean' } }, positionals: Infinity },
  migrate: {
    options: { ...UUID, to: { type: 'string' }, 'to-token-file': { type: 'string' }, 'max-bandwidth': { type: 'string' }, force: { type: 'boolean' }, api: { type: 'string' }, 'state-dir': { type: 'string' } },
    positionals: 1,
  },
};

/** umdev's own commands: they need no mdevctl environment (definitions and script dirs), only umdevd. */
const OWN = new Set(['events', 'screenshot', 'exec', 'shell', 'qemu-args', 'vm', 'migrate']);
/** Commands that read or write the sysfs tree and definitions, as mdevctl's do. */
const TREE = new Set(['types', 'list', 'define', 'undefine', 'modify', 'start', 'stop', 'start-parent-mdevs', 'online', 'offline', 'reset']);

type Values = Record<string, string | boolean | string[] | boolean[] | undefined>;

/** One parsed invocation: what the validation helpers need to word clap's errors. */
interface Invocation {
  readonly program: string;
  readonly cmd: string;
  readonly v: Values;
  readonly positionals: string[];
  /** Options given, in command-line order, without the global ones (clap's usage lines list them so). */
  readonly used: string[];
}

/** `exec`'s command exited non-zero: umdevctl exits with the same status, printing nothing. */
class ExitStatus extends Error {
  readonly code: number;
  constructor(code: number) {
    super(`exit status ${code}`);
    this.code = code;
  }
}

/** Options clap declares `required` per command: they lead every usage line of that command. */
const REQUIRED: Readonly<Record<string, readonly string[]>> = { undefine: ['uuid'], modify: ['uuid'], stop: ['uuid'], reset: ['uuid'] };

function str(v: Values, k: string): string | undefined {
  const x = v[k];
  return typeof x === 'string' ? x : undefined;
}
function bool(v: Values, k: string): boolean {
  return v[k] === true;
}
function uuidArg(s: string): string {
  const u = parseUuid(s);
  if (u === undefined) throw new UsageError(`Invalid value "${s}" for '--uuid <UUID>': ${uuidError(s)}`);
  return u;
}
function uuidOpt(v: Values): string | undefined {
  const s = str(v, 'uuid');
  return s === undefined ? undefined : uuidArg(s);
}
/** Missing arguments: `extra` are required only because of what was given (`--value` for `--addattr`); `group` is
 * a required group none of whose members was given (`--uuid` or `--parent` for define/start). */
function required(inv: Invocation, names: string[], opts: { extra?: string[]; group?: string[] } = {}): never {
  const first = [...(REQUIRED[inv.cmd] ?? []), ...(opts.extra ?? [])];
  throw new UsageError(
    `The following required arguments were not provided:\n${names.map((n) => `    ${n}\n`).join('')}`.trimEnd(),
    { program: inv.program, cmd: inv.cmd, used: inv.used, first, last: opts.group },
  );
}
/** clap names the conflicting argument given first, and drops the other from the usage line. */
function conflicts(inv: Invocation, pairs: ReadonlyArray<readonly [string, string]>): void {
  for (const [a, b] of pairs) {
    const ia = inv.used.indexOf(a);
    const ib = inv.used.indexOf(b);
    if (ia < 0 || ib < 0) continue;
    const [x, y] = ia < ib ? [a, b] : [b, a];
    throw new UsageError(`The argument '${label(x)}' cannot be used with '${label(y)}'`, { program: inv.program, cmd: inv.cmd, used: inv.used, first: REQUIRED[inv.cmd], drop: y });
  }
}
function u32(v: Values, k: string, label: string): number | undefined {
  const s = str(v, k);
  if (s === undefined) return undefined;
  if (!/^\+?[0-9]+$/.test(s) || Number(s) > 0xffffffff) throw new UsageError(`Invalid value "${s}" for '${label}': invalid digit found in string`);
  return Number(s);
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
async function selfCheck(ctx: CliContext): Promise<void> {
  const root = ctx.root;
  debug(ctx, 'mdevctl::environment', 'checking that the environment is sane');
  for (const dir of [root.definitions, root.calloutDirs.callouts, root.calloutDirs.notifiers]) {
    if (!(await exists(dir))) {
      throw fail('ENOENT', `Required directory ${JSON.stringify(dir)} doesn't exist. This may indicate a packaging or installation error`);
    }
  }
}

async function dispatch(ctx: CliContext, inv: Invocation, io: RunIo): Promise<void> {
  const { cmd, v, positionals } = inv;
  const { env, signal } = io;
  switch (cmd) {
    case 'types':
      return (await import('./types.js')).typesCommand(ctx, { parent: str(v, 'parent'), dumpjson: bool(v, 'dumpjson') });
    case 'list':
      return (await import('./list.js')).listCommand(ctx, { defined: bool(v, 'defined'), dumpjson: bool(v, 'dumpjson'), verbose: bool(v, 'verbose'), uuid: uuidOpt(v), parent: str(v, 'parent') });
    case 'define':
      conflicts(inv, [['jsonfile', 'type'], ['jsonfile', 'auto'], ['auto', 'manual']]);
      if (str(v, 'uuid') === undefined && str(v, 'parent') === undefined) required(inv, ['--uuid <UUID>', '--parent <PARENT>'], { group: ['uuid', 'parent'] });
      return (await import('./define.js')).defineCommand(ctx, { uuid: uuidOpt(v), parent: str(v, 'parent'), type: str(v, 'type'), auto: bool(v, 'auto'), jsonfile: str(v, 'jsonfile') });
    case 'undefine':
      if (str(v, 'uuid') === undefined) required(inv, ['--uuid <UUID>']);
      return (await import('./undefine.js')).undefineCommand(ctx, { uuid: uuidOpt(v) ?? '', parent: str(v, 'parent') });
    case 'modify':
      conflicts(inv, [['auto', 'manual']]);
      if (str(v, 'uuid') === undefined) required(inv, ['--uuid <UUID>']);
      if (str(v, 'addattr') !== undefined && str(v, 'value') === undefined) required(inv, ['--value <attr_value>'], { extra: ['value'] });
      return (await import('./modify.js')).modifyCommand(ctx, {
        uuid: uuidOpt(v) ?? '', parent: str(v, 'parent'), type: str(v, 'type'), auto: bool(v, 'auto'), manual: bool(v, 'manual'),
        addattr: str(v, 'addattr'), value: str(v, 'value'), delattr: bool(v, 'delattr'), index: u32(v, 'index', '--index <INDEX>'),
      });
    case 'start':
      conflicts(inv, [['jsonfile', 'type']]);
      if (str(v, 'uuid') === undefined && str(v, 'parent') === undefined) required(inv, ['--uuid <UUID>', '--parent <PARENT>'], { group: ['uuid', 'parent'] });
      return (await import('./start.js')).startCommand(ctx, { uuid: uuidOpt(v), parent: str(v, 'parent'), type: str(v, 'type'), jsonfile: str(v, 'jsonfile') });
    case 'stop':
      if (str(v, 'uuid') === undefined) required(inv, ['--uuid <UUID>']);
      return (await import('./stop.js')).stopCommand(ctx, { uuid: uuidOpt(v) ?? '' });
    case 'start-parent-mdevs':
      if (positionals.length !== 1) throw new UsageError('The following required arguments were not provided:\n    <PARENT>', `${inv.program} start-parent-mdevs <PARENT>`);
      return (await import('./start-parent-mdevs.js')).startParentMdevsCommand(ctx, { parent: positionals[0] });
    case 'online':
    case 'offline': {
      const raw = (v.uuid as string[] | undefined) ?? [];
      if (raw.length === 0) required(inv, ['--uuid <UUID>...']);
      const uuids = raw.map(uuidArg);
      return (await import('./online.js')).onlineCommand(ctx, { uuids, online: cmd === 'online', api: str(v, 'api'), stateDir: str(v, 'state-dir'), env });
    }
    case 'reset':
      if (str(v, 'uuid') === undefined) required(inv, ['--uuid <UUID>']);
      return (await import('./reset.js')).resetCommand(ctx, { uuid: uuidOpt(v) ?? '' });
    case 'exec':
    case 'shell': {
      const command = cmd === 'shell' ? [env.SHELL ?? '/bin/sh'] : positionals;
      if (command.length === 0) required(inv, ['<COMMAND>...']);
      return (await import('./exec.js')).execCommand({ stateDir: str(v, 'state-dir'), command, env }).then((code) => {
        if (code !== 0) throw new ExitStatus(code);
      });
    }
    case 'qemu-args':
    case 'vm': {
      const raw = [...(str(v, 'uuid') === undefined ? [] : [str(v, 'uuid') as string]), ...positionals];
      if (raw.length === 0) required(inv, ['<UUID>...']);
      const uuids = raw.map(uuidArg);
      if (cmd === 'qemu-args') return (await import('./qemu-args.js')).qemuArgsCommand(ctx, { uuids, stateDir: str(v, 'state-dir'), memory: str(v, 'memory'), env });
      return (await import('./vm.js')).vmCommand(ctx, { uuids, stateDir: str(v, 'state-dir'), memory: str(v, 'memory'), console: bool(v, 'console'), env, signal }).then((code) => {
        if (code !== 0) throw new ExitStatus(code);
      });
    }
    case 'screenshot': {
      // UUID FILE, or --uuid UUID FILE.
      const u = str(v, 'uuid') ?? positionals[0];
      const file = str(v, 'uuid') === undefined ? positionals[1] : positionals[0];
      if (u === undefined || file === undefined) required(inv, u === undefined ? ['<UUID>', '<FILE>'] : ['<FILE>']);
      return (await import('./screenshot.js')).screenshotCommand(ctx, { uuid: uuidArg(u), file, api: str(v, 'api'), stateDir: str(v, 'state-dir'), env });
    }
    case 'migrate': {
      const u = str(v, 'uuid') ?? positionals[0];
      if (u === undefined) required(inv, ['<UUID>']);
      const to = str(v, 'to');
      if (to === undefined) required(inv, ['--to <DEST>']);
      const maxBandwidth = u32(v, 'max-bandwidth', '--max-bandwidth <BYTES>');
      return (await import('./migrate.js')).migrateCommand(ctx, {
        uuid: uuidArg(u), to, tokenFile: str(v, 'to-token-file'), maxBandwidth: maxBandwidth === 0 ? undefined : maxBandwidth, force: bool(v, 'force'),
        api: str(v, 'api'), stateDir: str(v, 'state-dir'), env, signal,
      }).then((code) => {
        if (code !== 0) throw new ExitStatus(code);
      });
    }
    case 'dashboard': {
      const peers = v.peer;
      return (await import('./dashboard.js')).dashboardCommand(ctx, { api: str(v, 'api'), stateDir: str(v, 'state-dir'), listen: str(v, 'listen'), open: bool(v, 'open'), peers: Array.isArray(peers) ? peers.filter((p): p is string => typeof p === 'string') : [], signal, env });
    }
    case 'events':
      return (await import('./events.js')).eventsCommand(ctx, { api: str(v, 'api'), stateDir: str(v, 'state-dir'), count: u32(v, 'count', '--count <N>'), signal, env });
    default:
      throw new UsageError(`Found argument '${cmd}' which wasn't expected, or isn't valid in this context`, `${inv.program} <SUBCOMMAND>`);
  }
}

/** What `run` needs from its host process. */
export interface RunIo {
  readonly stdout: Writer;
  readonly stderr: Writer;
  readonly env: Readonly<Record<string, string | undefined>>;
  /**
   * Aborts long-running commands (`events`, `vm`, `migrate`), with the signal's name (`SIGINT`, `SIGTERM`) as the
   * reason; `migrate` asks its daemon to roll back and waits for it.
   */
  readonly signal?: AbortSignal;
  readonly now?: () => Date;
  /** `lsmdev`: mdevctl's other name, which is `list` with its own help and usage lines. Default `umdevctl`. */
  readonly program?: 'umdevctl' | 'lsmdev';
}

function findCommand(argv: readonly string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--sysfs-root' || a === '--config-root' || a === '--state-dir') i++;
    else if (!a.startsWith('-')) return i;
  }
  return -1;
}

const GLOBAL_NAMES = new Set([...Object.keys(GLOBAL), 'version']);

/** Runs one umdevctl invocation (`argv` without node and script) and returns its exit code. */
export async function run(argv: readonly string[], io: RunIo): Promise<number> {
  const program = io.program ?? 'umdevctl';
  const lsmdev = program === 'lsmdev';
  const args = lsmdev ? ['list', ...argv] : [...argv];
  const at = findCommand(args);
  // `umdevctl help [CMD]` is clap's help subcommand: the global help, or CMD's.
  const helpFor = !lsmdev && at >= 0 && args[at] === 'help' ? (args.slice(at + 1).find((a) => !a.startsWith('-')) ?? '') : undefined;
  if (helpFor !== undefined) {
    const { commandHelp, formatUsageError, globalHelp } = await import('./help.js');
    const text = helpFor === '' ? globalHelp(await version()) : commandHelp(helpFor, program, await version(), true);
    if (text === undefined) {
      io.stderr.write(formatUsageError(new UsageError(`The subcommand '${helpFor}' wasn't recognized`, `${program} <SUBCOMMAND>`)));
      return 2;
    }
    io.stdout.write(text);
    return 0;
  }
  const cmd = at < 0 ? undefined : args[at];
  const spec = cmd === undefined ? undefined : COMMANDS[cmd];
  let rest = at < 0 ? args : [...args.slice(0, at), ...args.slice(at + 1)];
  if (cmd === 'exec') {
    // Everything from `--` (or the first word that is not one of exec's options) on is the command, untouched.
    const tail = args.slice(at + 1);
    let i = 0;
    while (i < tail.length && tail[i] !== '--' && tail[i]!.startsWith('-')) i += tail[i] === '--state-dir' ? 2 : 1;
    const command = tail[i] === '--' ? tail.slice(i + 1) : tail.slice(i);
    rest = [...args.slice(0, at), ...tail.slice(0, i), '--', ...command];
  }
  const options = { ...GLOBAL, ...(spec?.options ?? {}), version: { type: 'boolean' as const, short: 'V' } };
  let values: Values;
  let positionals: string[] = [];
  let usage: UsageError | undefined;
  const loose = parseArgs({ args: rest, options, allowPositionals: true, strict: false, tokens: true });
  const named = (tokens: typeof loose.tokens): string[] => [...new Set(tokens.flatMap((t) => (t.kind === 'option' && t.name in options && !GLOBAL_NAMES.has(t.name) ? [t.name] : [])))];
  const used = named(loose.tokens);
  // clap stops at an unknown option: its usage line names only what came before it.
  const unknownAt = loose.tokens.findIndex((t) => t.kind === 'option' && !(t.name in options));
  try {
    const parsed = parseArgs({ args: rest, options, allowPositionals: (spec?.positionals ?? 0) > 0, strict: true });
    values = parsed.values as Values;
    positionals = parsed.positionals;
  } catch (e) {
    usage = parseError(e, program, cmd, unknownAt < 0 ? used : named(loose.tokens.slice(0, unknownAt)));
    values = loose.values as Values;
  }
  const json = values.json === true;
  // Only when the command will run: help, version and usage errors print no note about trees.
  const willRun = values.help !== true && values.version !== true && usage === undefined && spec !== undefined;
  const roots = resolveRoots(
    { sysfsRoot: str(values, 'sysfs-root'), configRoot: str(values, 'config-root'), stateDir: str(values, 'state-dir') },
    io.env,
    willRun && TREE.has(cmd ?? ''),
  );
  const ctx: CliContext = {
    root: roots.root,
    ...(roots.state === undefined ? {} : { state: roots.state }),
    stdout: io.stdout,
    stderr: io.stderr,
    json,
    now: io.now,
    log: logFilter(io.env, () => io.stderr.isTTY === true),
  };
  if (values.help === true) {
    const { commandHelp, globalHelp, lsmdevHelp } = await import('./help.js');
    // clap: `--help` gives the long form, `-h` the short one.
    const long = rest.includes('--help');
    const text = lsmdev ? lsmdevHelp(await version()) : (cmd !== undefined ? commandHelp(cmd, program, await version(), long) : undefined) ?? globalHelp(await version());
    io.stdout.write(text);
    return 0;
  }
  if (cmd === undefined && values.version !== true) {
    io.stderr.write((await import('./help.js')).globalHelp(await version()));
    return 2;
  }
  if (values.version === true) {
    io.stdout.write(`${lsmdev ? 'lsmdev' : 'umdevctl'} ${await version()}\n`);
    return 0;
  }
  try {
    debug(ctx, 'mdevctl', 'Starting up');
    debug(ctx, 'mdevctl', `Sysroot { sysfs: ${JSON.stringify(ctx.root.sysfsRoot)}, config: ${JSON.stringify(ctx.root.configRoot)} }`);
    if (roots.note !== undefined) io.stderr.write(`${roots.note}\n`);
    // As mdevctl: the environment is checked before the arguments (umdev's own commands need none of it).
    if (!OWN.has(cmd ?? '')) await selfCheck(ctx);
    // clap sees an unknown subcommand before anything after it.
    if (spec === undefined) throw unknownCommand(program, cmd ?? '');
    if (usage !== undefined) throw usage;
    await dispatch(ctx, { program, cmd: cmd ?? '', v: values, positionals, used }, io);
    return 0;
  } catch (e) {
    if (e instanceof ExitStatus) return e.code;
    if (e instanceof UsageError) {
      if (json) io.stderr.write(formatErrorJson(new UmdevError('EINVAL', e.message)));
      else io.stderr.write((await import('./help.js')).formatUsageError(e));
      return 2;
    }
    const ue = osError(e);
    if (ue.errno === 'EIO' && ue.message.startsWith('internal error:')) io.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    io.stderr.write(json ? formatErrorJson(ue) : formatError(ue));
    return exitCode(ue.errno);
  }
}

/** clap's answer to a word that is no command: a suggestion when one is close enough (`suggestions.rs`). */
function unknownCommand(program: string, word: string): UsageError {
  const near = didYouMean(word, [...Object.keys(COMMANDS), 'help']);
  if (near.length === 0) return new UsageError(`Found argument '${word}' which wasn't expected, or isn't valid in this context`, `${program} <SUBCOMMAND>`);
  return new UsageError(
    `The subcommand '${word}' wasn't recognized\n\n\tDid you mean ${near.map((n) => `'${n}'`).join(' or ')}?\n\nIf you believe you received this message in error, try re-running with '${program} -- ${word}'`,
    `${program} <SUBCOMMAND>`,
  );
}

/** clap's wording for what `util.parseArgs` refused; an unknown flag also gets clap's `-- --flag` hint. */
function parseError(e: unknown, program: string, cmd: string | undefined, used: readonly string[]): UsageError {
  const code = (e as { code?: string }).code;
  const msg = e instanceof Error ? e.message : String(e);
  const arg = /'([^']+)'/.exec(msg)?.[1];
  const line = cmd === undefined || COMMANDS[cmd] === undefined ? `${program} <SUBCOMMAND>` : { program, cmd, used, first: REQUIRED[cmd] };
  if ((code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') && arg !== undefined) {
    const hint = arg.startsWith('-') ? `If you tried to supply \`${arg}\` as a value rather than a flag, use \`-- ${arg}\`` : undefined;
    const found = `Found argument '${arg}' which wasn't expected, or isn't valid in this context`;
    // clap suggests the closest long flag of the command (`did_you_mean_flag`), and names it in the usage line.
    const spec = cmd === undefined ? undefined : COMMANDS[cmd];
    const near = arg.startsWith('--') && spec !== undefined ? didYouMean(arg.slice(2).split('=')[0]!, [...Object.keys(spec.options), 'help', ...(cmd === 'list' ? ['version'] : [])]).pop() : undefined;
    if (near !== undefined && typeof line !== 'string') {
      return new UsageError(`${found}\n\n\tDid you mean '--${near}'?`, { ...line, used: [...used.filter((u) => u !== near), near] }, hint);
    }
    return new UsageError(found, line, hint);
  }
  return new UsageError(msg, line);
}

/**
 * Run as the process's command (`bin/umdevctl`, `bin/lsmdev`): real stdio and environment, Ctrl-C ends `events`.
 * The process serves no FUSE mount, so its reads are plain system calls (`readInline`).
 */
export async function cli(program: 'umdevctl' | 'lsmdev' = 'umdevctl'): Promise<void> {
  readInline();
  const ac = new AbortController();
  // A command that follows the signal (events, vm, migrate) gets it as an abort; any other ends as it would have
  // without a handler. A second signal ends the process at once, as the handler is gone.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      if (getEventListeners(ac.signal, 'abort').length > 0) ac.abort(sig);
      else process.kill(process.pid, sig);
    });
  }
  const stdout = new FdWriter(1, () => process.stdout);
  const stderr = new FdWriter(2, () => process.stderr);
  process.exitCode = await run(process.argv.slice(2), { stdout, stderr, env: process.env, signal: ac.signal, program });
}

function isMain(): boolean {
  if (process.argv[1] === undefined) return false;
  try {
    return realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

// Run as a script (`node dist/src/cli/main.js …`), this module is umdevctl itself. No top-level await: the bin
// scripts load this module from a CommonJS bundle (scripts/bundle-cli.mjs). A failure ends the process, as one
// thrown at the top level would.
if (isMain()) void cli();
