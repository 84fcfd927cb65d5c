#!/usr/bin/env node
/**
 * `umdevctl`: an mdevctl-compatible CLI. This file only parses arguments (`util.parseArgs`, with the options the
 * command table declares), checks the environment as mdevctl does, runs the command's entry, and turns a
 * `UmdevError` into mdevctl's stderr text and exit code (1; usage errors exit 2, as clap does). Each command's module
 * is imported when that command runs, so a call loads only what it uses: start-up is most of what a `umdevctl list`
 * costs.
 */
import { getEventListeners } from 'node:events';
import { realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { exitCode, UmdevError } from '../errors.js';
import { fail, formatError, formatErrorJson, osError } from '../mdevctl/failure.js';
import { debug, FdWriter, logFilter, type CliContext } from '../mdevctl/io.js';
import { UsageError } from './usage.js';
import { exists } from '../mdevctl/sysfs-read.js';
import { readInline } from '../mdevctl/read-text.js';
import { resolveRoots } from './roots.js';
import { didYouMean } from './suggest.js';
import { ExitStatus, str } from './invocation.js';
import { COMMANDS, GLOBAL_OPTIONS, commandNamed, type CommandDecl, type OptionDecl, type RunIo, type Values } from './table/index.js';

export type { RunIo } from './table/index.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** `util.parseArgs`'s form of declared options. */
function parserOptions(options: readonly OptionDecl[]): Options {
  return Object.fromEntries(
    options.map((o) => [o.long, { type: o.value === undefined ? ('boolean' as const) : ('string' as const), ...(o.short === undefined ? {} : { short: o.short }), ...(o.multiple === true ? { multiple: true } : {}) }]),
  );
}

const GLOBAL: Options = { ...parserOptions(GLOBAL_OPTIONS), help: { type: 'boolean', short: 'h' } };

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

/** The global options that take the next word as their value. */
const GLOBAL_VALUED = new Set(GLOBAL_OPTIONS.filter((o) => o.value !== undefined).map((o) => `--${o.long}`));

function findCommand(argv: readonly string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (GLOBAL_VALUED.has(a)) i++;
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
  const spec = cmd === undefined ? undefined : commandNamed(cmd);
  let rest = at < 0 ? args : [...args.slice(0, at), ...args.slice(at + 1)];
  if (cmd === 'exec') {
    // Everything from `--` (or the first word that is not one of exec's options) on is the command, untouched.
    const tail = args.slice(at + 1);
    let i = 0;
    while (i < tail.length && tail[i] !== '--' && tail[i]!.startsWith('-')) i += tail[i] === '--state-dir' ? 2 : 1;
    const command = tail[i] === '--' ? tail.slice(i + 1) : tail.slice(i);
    rest = [...args.slice(0, at), ...tail.slice(0, i), '--', ...command];
  }
  const options = { ...GLOBAL, ...parserOptions(spec?.options ?? []), version: { type: 'boolean' as const, short: 'V' } };
  let values: Values;
  let positionals: string[] = [];
  let usage: UsageError | undefined;
  const loose = parseArgs({ args: rest, options, allowPositionals: true, strict: false, tokens: true });
  const named = (tokens: typeof loose.tokens): string[] => [...new Set(tokens.flatMap((t) => (t.kind === 'option' && t.name in options && !GLOBAL_NAMES.has(t.name) ? [t.name] : [])))];
  const used = named(loose.tokens);
  // clap stops at an unknown option: its usage line names only what came before it.
  const unknownAt = loose.tokens.findIndex((t) => t.kind === 'option' && !(t.name in options));
  try {
    const parsed = parseArgs({ args: rest, options, allowPositionals: (spec?.args?.length ?? 0) > 0, strict: true });
    values = parsed.values as Values;
    positionals = parsed.positionals;
  } catch (e) {
    usage = parseError(e, program, spec ?? cmd, unknownAt < 0 ? used : named(loose.tokens.slice(0, unknownAt)));
    values = loose.values as Values;
  }
  const json = values.json === true;
  // Only when the command will run: help, version and usage errors print no note about trees.
  const willRun = values.help !== true && values.version !== true && usage === undefined && spec !== undefined;
  const roots = resolveRoots(
    { sysfsRoot: str(values, 'sysfs-root'), configRoot: str(values, 'config-root'), stateDir: str(values, 'state-dir') },
    io.env,
    willRun && spec?.needs === 'tree',
  );
  const ctx: CliContext = {
    root: roots.root,
    ...(roots.state === undefined ? {} : { stateDir: roots.state.dir }),
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
    if (spec?.needs !== 'none') await selfCheck(ctx);
    // clap sees an unknown subcommand before anything after it.
    if (spec === undefined) throw unknownCommand(program, cmd ?? '');
    if (usage !== undefined) throw usage;
    await spec.run({ inv: { program, cmd: spec.name, v: values, positionals, used, decl: spec }, ctx, io });
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
  const near = didYouMean(word, [...COMMANDS.map((c) => c.name), 'help']);
  if (near.length === 0) return new UsageError(`Found argument '${word}' which wasn't expected, or isn't valid in this context`, `${program} <SUBCOMMAND>`);
  return new UsageError(
    `The subcommand '${word}' wasn't recognized\n\n\tDid you mean ${near.map((n) => `'${n}'`).join(' or ')}?\n\nIf you believe you received this message in error, try re-running with '${program} -- ${word}'`,
    `${program} <SUBCOMMAND>`,
  );
}

/** clap's wording for what `util.parseArgs` refused; an unknown flag also gets clap's `-- --flag` hint. */
function parseError(e: unknown, program: string, cmd: CommandDecl | string | undefined, used: readonly string[]): UsageError {
  const code = (e as { code?: string }).code;
  const msg = e instanceof Error ? e.message : String(e);
  const arg = /'([^']+)'/.exec(msg)?.[1];
  const spec = typeof cmd === 'object' ? cmd : undefined;
  const line = spec === undefined ? `${program} <SUBCOMMAND>` : { program, cmd: spec.name, used, first: spec.required };
  if ((code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') && arg !== undefined) {
    const hint = arg.startsWith('-') ? `If you tried to supply \`${arg}\` as a value rather than a flag, use \`-- ${arg}\`` : undefined;
    const found = `Found argument '${arg}' which wasn't expected, or isn't valid in this context`;
    // clap suggests the closest long flag of the command (`did_you_mean_flag`), and names it in the usage line.
    const near = arg.startsWith('--') && spec !== undefined ? didYouMean(arg.slice(2).split('=')[0]!, [...spec.options.map((o) => o.long), 'help', ...(spec.version === true ? ['version'] : [])]).pop() : undefined;
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
