/**
 * Concepts: a definition is `<config>/<parent>/<uuid>`, a JSON file in exactly mdevctl's format, so mdevctl and
 * umdevctl can share one definitions directory. Reading applies mdevctl 1.2.0's rules and error texts. Writing is
 * atomic: the text goes to a temporary file in `<config>/<parent>/.umdevctl-tmp/` (same filesystem, and a directory,
 * which mdevctl skips silently when it lists a parent), is fsynced, renamed over the target, and the parent
 * directory is fsynced; a crash at any point leaves either the old file or the new one, never a torn one. The temp
 * directory is removed again once it is empty, so a parent's directory holds only definitions; a crash may leave it
 * behind (mdevctl still skips it), and the next write reaps what is in it and removes it.
 */
import { link, mkdir, open, readdir, rename, rmdir, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { context, fail, osError } from './failure.js';
import { isJsonObject, parseJson, prettyJson, type Json, type JsonOut } from './serde-json.js';
import { readToString } from './read-text.js';

/** A device definition as stored: type, start mode and ordered sysfs attributes (relative path, value). */
export interface Definition {
  readonly mdevType: string;
  readonly autostart: boolean;
  readonly attrs: ReadonlyArray<readonly [string, string]>;
}

/** Where temporary files live while a definition is written (a subdirectory of the parent's directory). */
export const TMP_DIR = '.umdevctl-tmp';

/**
 * mdevctl's `attrs` rules: missing or null is no attributes; otherwise an array of single-key objects with string
 * values. (mdevctl 1.2.0 panics on a non-string value; umdevctl reports it with the text later releases use.)
 */
export function parseAttrs(v: Json | undefined): Array<[string, string]> {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw fail('EINVAL', 'attributes field is not an array');
  const out: Array<[string, string]> = [];
  for (const a of v) {
    if (!isJsonObject(a)) throw fail('EINVAL', 'invalid JSON format for attribute: not an object');
    const keys = Object.keys(a);
    if (keys.length !== 1) throw fail('EINVAL', 'invalid JSON format for attribute: too many fields');
    const val = a[keys[0]];
    if (typeof val !== 'string') {
      throw fail('EINVAL', `invalid JSON format for attribute {${JSON.stringify(keys[0])}, ${JSON.stringify(val)}}: value must be of type str`);
    }
    out.push([keys[0], val]);
  }
  return out;
}

/** mdevctl's `load_from_json`: `mdev_type` and `start` are required; `start == "auto"` means autostart. */
export function parseDefinition(json: Json): Definition {
  const obj = isJsonObject(json) ? json : undefined;
  const t = obj?.mdev_type;
  const start = obj?.start;
  // mdevctl 1.2.0 panics (exit 101) on a non-string type; umdevctl calls it what it is.
  if (t === undefined || t === null || start === undefined || start === null || typeof t !== 'string') {
    throw fail('EINVAL', 'invalid json');
  }
  return { mdevType: t, autostart: start === 'auto', attrs: parseAttrs(obj?.attrs) };
}

/** The stored JSON value, keys in mdevctl's order (`mdev_type`, `start`, `attrs`). */
export function definitionJson(d: Definition): Map<string, JsonOut> {
  return new Map<string, JsonOut>([
    ['mdev_type', d.mdevType],
    ['start', d.autostart ? 'auto' : 'manual'],
    ['attrs', d.attrs.map(([k, v]) => new Map<string, JsonOut>([[k, v]]))],
  ]);
}

/** The file text, byte for byte what mdevctl writes (pretty, 2-space indent, no trailing newline). */
export function formatDefinition(d: Definition): string {
  return prettyJson(definitionJson(d));
}

/** Reads and parses one definition file (os, UTF-8, serde_json and definition errors, as mdevctl reports them). */
export async function readDefinitionFile(path: string): Promise<Definition> {
  return parseDefinition(parseJson(await readToString(path)));
}

/**
 * Writes `text` to `path` atomically (see Concepts). Creates the parent directory like mdevctl's `create_dir_all`
 * (a failure there is a bare os error); any failure after that is reported as `Failed to write config for device
 * <uuid>` with the os error as the cause, as mdevctl does. With `exclusive`, the temp file is put in place with
 * `link`, which fails with `EEXIST` when `path` exists: no check-then-write race between two definers.
 */
export async function writeDefinitionFile(path: string, text: string, options: { readonly exclusive?: boolean } = {}): Promise<void> {
  const dir = dirname(path);
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw osError(e);
  }
  const tmpDir = join(dir, TMP_DIR);
  try {
    // Imported here: `list` reads definitions through this module, and crypto is costly to load at start.
    const { randomBytes } = await import('node:crypto');
    const tmp = join(tmpDir, `${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}`);
    const fh = await openTemp(tmpDir, tmp);
    try {
      await fh.writeFile(text, 'utf8');
      await fh.sync();
    } catch (e) {
      await fh.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      throw e;
    }
    await fh.close();
    try {
      if (options.exclusive === true) await link(tmp, path);
      else await rename(tmp, path);
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      throw e;
    }
    // After a link the temp name is a second name of the new file; after a rename it is already gone.
    if (options.exclusive === true) await unlink(tmp);
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch (e) {
    throw context(e, `Failed to write config for device ${basename(path)}`);
  } finally {
    await removeIfEmpty(tmpDir);
  }
}

/**
 * Creates the temp directory and the temp file in it. Another writer may remove the directory (empty after its own
 * write) between the two steps; the open then fails with ENOENT and is retried with the directory made again.
 */
async function openTemp(tmpDir: string, tmp: string): Promise<FileHandle> {
  for (let attempt = 0; ; attempt++) {
    await mkdir(tmpDir, { recursive: true });
    await reapStale(tmpDir);
    try {
      return await open(tmp, 'wx', 0o666);
    } catch (e) {
      if ((e as { code?: string }).code !== 'ENOENT' || attempt >= 100) throw e;
    }
  }
}

/** rmdir that leaves a directory another writer is using (ENOTEMPTY) or has removed already (ENOENT). */
async function removeIfEmpty(tmpDir: string): Promise<void> {
  try {
    await rmdir(tmpDir);
  } catch {
    // Not empty, gone, or not ours to remove: nothing a definition write must fail on.
  }
}

/** Removes temporary files left by writers that died (their pid, part of the name, no longer exists). */
async function reapStale(tmpDir: string): Promise<void> {
  // ENOENT: another writer removed the directory just now; openTemp makes it again.
  const names = await readdir(tmpDir).catch((e: { code?: string }) => {
    if (e.code === 'ENOENT') return [];
    throw e;
  });
  for (const name of names) {
    const pid = Number(/\.(\d+)\.[0-9a-f]+$/.exec(name)?.[1]);
    if (!Number.isInteger(pid) || pid === process.pid || pidAlive(pid)) continue;
    await unlink(join(tmpDir, name)).catch(() => undefined);
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM';
  }
}
