/**
 * Concepts: autostart, the job mdevctl's udev rule does on a kernel (`mdevctl start-parent-mdevs <parent>` when a
 * parent registers). When the core reports a parent `registered`, every definition of that parent marked
 * `"start": "auto"` is created through the core and its vendor attributes are written through the core, in order,
 * as mdevctl would. Each start is wrapped in the same callouts and notifiers as `mdevctl start` (`src/mdevctl/callouts.ts`,
 * run from the definitions dir's `scripts.d`), so a `pre` callout that fails vetoes the device here too. A bad
 * definition, or one that fails to start, is logged and skipped; it never stops the others, and a device whose
 * attributes fail is removed again (mdevctl's rollback).
 */
import type { Core, CoreEvent } from '../core/index.js';
import { toUmdevError } from '../errors.js';
import { readParentDefinitions, type StoredDefinition } from '../mdevctl/store.js';
import { describeError, type Logger } from '../log.js';
import { invokeWithCallouts } from '../mdevctl/callouts.js';
import type { CliContext, Writer } from '../mdevctl/io.js';
import { MDev } from '../mdevctl/mdev.js';
import { Sysroot } from '../mdevctl/sysroot.js';

/** Result of one parent's autostart, for logs and tests. */
export interface AutostartResult {
  readonly started: readonly string[];
  readonly failed: readonly string[];
}

/** Watches a core for parent registrations and starts their auto definitions. Owned by the daemon. */
export class Autostart {
  readonly #core: Core;
  readonly #dir: string;
  /** Only its definitions root is used: the callout and notifier dirs below `scripts.d`. */
  readonly #root: Sysroot;
  readonly #log: Logger;
  readonly #pending = new Set<Promise<AutostartResult>>();
  #unsubscribe: (() => void) | undefined;

  constructor(core: Core, definitionsDir: string, log: Logger) {
    this.#core = core;
    this.#dir = definitionsDir;
    this.#root = new Sysroot({ configRoot: definitionsDir });
    this.#log = log.child('autostart');
  }

  /** Begin watching; parents registered from now on are autostarted. Pairs with `stop()`. */
  watch(): void {
    if (this.#unsubscribe !== undefined) return;
    const onEvent = (e: CoreEvent): void => {
      if (e.kind === 'registered') void this.run(e.parent);
    };
    this.#unsubscribe = this.#core.subscribe(onEvent, ['registered']);
  }

  /** Stop watching (runs already started finish; `idle()` waits for them). */
  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  /** Resolves once every run started so far has finished. */
  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  /** Start the auto definitions of one parent now. Never rejects. */
  run(parent: string): Promise<AutostartResult> {
    const p = this.#run(parent).catch((e: unknown) => {
      this.#log.error(`reading definitions of ${parent} failed: ${describeError(e)}`);
      return { started: [], failed: [] };
    });
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
    return p;
  }

  async #run(parent: string): Promise<AutostartResult> {
    const { definitions, errors } = await readParentDefinitions(this.#dir, parent);
    for (const bad of errors) this.#log.warn(`skipping ${bad.file}: ${bad.error.message}`);
    const started: string[] = [];
    const failed: string[] = [];
    for (const def of definitions) {
      if (!def.autostart) continue;
      if (await this.#startOne(def)) started.push(def.uuid);
      else failed.push(def.uuid);
    }
    if (started.length + failed.length > 0) {
      this.#log.info(`${parent}: started ${started.length} defined device(s)${failed.length > 0 ? `, ${failed.length} failed` : ''}`);
    }
    return { started, failed };
  }

  async #startOne(def: StoredDefinition): Promise<boolean> {
    const log = this.#log.child('autostart', def.uuid);
    if (this.#core.device(def.uuid) !== undefined) {
      log.info('already active; left as it is');
      return true;
    }
    // The callouts see what mdevctl's see: the definition as JSON on stdin, its type, parent and uuid as arguments.
    const dev = new MDev(this.#root, def.uuid);
    dev.parent = def.parent;
    dev.mdevType = def.mdevType;
    dev.autostart = true;
    dev.attrs = def.attrs.map(([name, value]): [string, string] => [name, value]);
    // What a script prints on stderr is logged as the warning it is meant to be (mdevctl echoes it to stderr).
    const stderr: Writer = { write: (chunk: string) => void chunk.trimEnd().split('\n').forEach((l) => log.warn(`callout: ${l}`)) };
    const ctx: CliContext = { root: this.#root, stdout: { write: () => true }, stderr, json: false };
    try {
      await invokeWithCallouts(ctx, dev, 'start', () => this.#create(def, log));
    } catch (e) {
      log.warn(`cannot start ${def.mdevType} on ${def.parent}: ${describeError(e)}`);
      return false;
    }
    log.info(`started ${def.mdevType} on ${def.parent}`);
    return true;
  }

  /** The primary action: create, then write the attributes in order; on an attribute failure, remove and rethrow. */
  async #create(def: StoredDefinition, log: Logger): Promise<void> {
    await this.#core.create(def.parent, def.mdevType, def.uuid, { origin: 'autostart' });
    for (const [name, value] of def.attrs) {
      try {
        await this.#core.storeAttribute(def.uuid, name, value);
      } catch (e) {
        log.warn(`failed to write ${JSON.stringify(value)} to attribute ${name}: ${describeError(e)}; removing the device`);
        try {
          await this.#core.remove(def.uuid, { force: true, origin: 'autostart' });
        } catch (re) {
          log.error(`rollback remove failed: ${toUmdevError(re).message}`);
        }
        throw e;
      }
    }
  }
}
