/**
 * Concepts: mdevctl's hooks. Callout scripts in `scripts.d/callouts` wrap each change: `pre` runs before it and a
 * non-zero exit (other than 2, "not my device type") aborts the command; `post` runs after it and is advisory; the
 * first script (in directory order, as mdevctl 1.2.0 reads it: unsorted) that does not answer 2 owns the device for the rest of the command. Notifiers in
 * `scripts.d/notifiers` all run afterwards and cannot change anything. `get` asks the owning callout for the live
 * attributes of an active device. Every script gets `-t TYPE -e EVENT -a ACTION -s STATE -u UUID -p PARENT` and the
 * device's JSON on stdin (nothing for `get`); its stderr is echoed as `<script name>: <text>`.
 */
import { basename, join } from 'node:path';
import { context, debugPath, fail } from './failure.js';
import { warn, type CliContext } from './io.js';
import type { MDev } from './mdev.js';
import { compactJson, parseJson, type Json } from './serde-json.js';
import { isDir, readDirNames } from './sysfs-read.js';

/** The command a hook is told about. */
export type Action = 'start' | 'stop' | 'define' | 'undefine' | 'modify' | 'attributes';
type Event = 'pre' | 'post' | 'notify' | 'get';
type State = 'none' | 'success' | 'failure';

interface ScriptResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `action` wrapped in the callouts and notifiers; the action's error (or a `pre` veto) is rethrown. */
export async function invokeWithCallouts(ctx: CliContext, dev: MDev, action: Action, primary: () => Promise<void>): Promise<void> {
  const run = new CalloutRun(ctx, dev, action);
  try {
    await run.callout('pre');
    try {
      await primary();
      run.state = 'success';
    } catch (e) {
      run.state = 'failure';
      throw e;
    } finally {
      await run.callout('post').catch(() => undefined);
    }
  } finally {
    await run.notify();
  }
}

/** Asks the owning callout for the attributes of an active device; `null` when no script answers. */
export async function getAttributes(ctx: CliContext, dev: MDev): Promise<Json> {
  const run = new CalloutRun(ctx, dev, 'attributes');
  if (!(await isDir(ctx.root.calloutDirs.callouts))) return null;
  const found = await run.firstMatching('get');
  if (found === undefined) return null;
  const [path, res] = found;
  if (res.code !== 0) {
    run.printErr(path, res);
    throw fail('EIO', `failed to get attributes from ${debugPath(path)}`);
  }
  let text = res.stdout;
  if (text === '') return null;
  if (text === '[{}]') text = '[]';
  try {
    return parseJson(text);
  } catch (e) {
    throw context(e, 'Unable to parse attributes from JSON');
  }
}

class CalloutRun {
  state: State = 'none';
  #script: string | undefined;
  readonly #ctx: CliContext;
  readonly #dev: MDev;
  readonly #action: Action;

  constructor(ctx: CliContext, dev: MDev, action: Action) {
    this.#ctx = ctx;
    this.#dev = dev;
    this.#action = action;
  }

  async callout(event: 'pre' | 'post'): Promise<void> {
    let code: number | null | undefined;
    if (this.#script !== undefined) {
      const res = await this.#runScript(this.#script, event).catch(() => undefined);
      if (res !== undefined) {
        this.printErr(this.#script, res);
        code = res.code;
      }
    } else {
      if (!(await isDir(this.#ctx.root.calloutDirs.callouts))) return;
      const found = await this.firstMatching(event);
      if (found !== undefined) {
        this.printErr(found[0], found[1]);
        this.#script = found[0];
        code = found[1].code;
      }
    }
    if (code !== undefined && code !== null && code !== 0) {
      throw fail('ECANCELED', `callout script ${debugPath(this.#script ?? '')} failed with return code ${code}`);
    }
  }

  async notify(): Promise<void> {
    let names: string[];
    try {
      names = await readDirNames(this.#ctx.root.calloutDirs.notifiers);
    } catch {
      return;
    }
    for (const n of names) await this.#runScript(join(this.#ctx.root.calloutDirs.notifiers, n), 'notify').catch(() => undefined);
  }

  async firstMatching(event: Event): Promise<[string, ScriptResult] | undefined> {
    let names: string[];
    try {
      names = await readDirNames(this.#ctx.root.calloutDirs.callouts);
    } catch {
      return undefined;
    }
    const paths = names.map((n) => join(this.#ctx.root.calloutDirs.callouts, n));
    for (const path of paths) {
      let res: ScriptResult;
      try {
        res = await this.#runScript(path, event);
      } catch {
        continue;
      }
      if (res.code === null) {
        warn(this.#ctx, `callout script ${debugPath(path)} was terminated by a signal`);
        continue;
      }
      if (res.code !== 2) return [path, res];
    }
    return undefined;
  }

  printErr(path: string, res: ScriptResult): void {
    if (res.stderr !== '') this.#ctx.stderr.write(`${basename(path)}: ${res.stderr}`);
  }

  async #runScript(path: string, event: Event): Promise<ScriptResult> {
    const dev = this.#dev;
    const args = ['-t', dev.requireType(), '-e', event, '-a', this.#action, '-s', this.state, '-u', dev.uuid, '-p', dev.requireParent()];
    const stdin = event === 'get' ? '' : compactJson(dev.toJson(false));
    // Imported here: most commands find no callout scripts, and child_process is costly to load at start.
    const { spawn } = await import('node:child_process');
    return new Promise((resolve, reject) => {
      const child = spawn(path, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      // A script that exits without reading stdin must not fail the write with EPIPE.
      child.stdin.on('error', () => undefined);
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
      child.stdin.end(stdin);
    });
  }
}
