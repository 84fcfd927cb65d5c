/**
 * Concepts: a directory of definitions in mdevctl's layout, `<dir>/<parent>/<uuid>`, each file in the format of
 * `definitions.ts`. umdevd reads them to autostart devices and writes them for the API's define routes; umdevctl
 * reads and writes the same files. Writes are atomic (temp file + fsync + rename), so a daemon killed mid-write
 * leaves either the old file or the new one, never a torn one; mdevctl would refuse a torn file and with it every
 * other definition (`list -d` fails as a whole on one bad file).
 */
import { readdir, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { type Definition, parseDefinition as parseFormat, formatDefinition, writeDefinitionFile } from './definitions.js';
import { parseJson } from './serde-json.js';
import { err, toUmdevError } from '../errors.js';

/** A definition and where it is stored (`<dir>/<parent>/<uuid>`). */
export interface StoredDefinition extends Definition {
  readonly parent: string;
  readonly uuid: string;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(s: string): boolean {
  return UUID_RE.test(s);
}

/**
 * Parse one file's text (mdevctl 1.2.0's rules and messages: `mdev_type` and `start` required, attrs single-key
 * objects of strings); the message is prefixed with the file's parent/uuid for logs.
 */
export function parseStoredDefinition(parent: string, uuid: string, text: string): StoredDefinition {
  try {
    return { ...parseFormat(parseJson(text)), parent, uuid: uuid.toLowerCase() };
  } catch (e) {
    const u = toUmdevError(e);
    throw err(u.errno, `definition ${parent}/${uuid}: ${u.message}`, u);
  }
}

/** Result of reading one parent's definitions: the good ones, and one error per bad file (never fatal). */
export interface ParentDefinitions {
  readonly definitions: readonly StoredDefinition[];
  readonly errors: readonly { readonly file: string; readonly error: Error }[];
}

/** Read `<dir>/<parent>/*`. A missing directory means no definitions. */
export async function readParentDefinitions(dir: string, parent: string): Promise<ParentDefinitions> {
  const pdir = path.join(dir, parent);
  let names: string[];
  try {
    names = await readdir(pdir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { definitions: [], errors: [] };
    throw e;
  }
  const definitions: StoredDefinition[] = [];
  const errors: { file: string; error: Error }[] = [];
  for (const name of names.sort()) {
    if (!isUuid(name)) continue;
    const file = path.join(pdir, name);
    try {
      definitions.push(parseStoredDefinition(parent, name, await readFile(file, 'utf8')));
    } catch (e) {
      errors.push({ file, error: e as Error });
    }
  }
  return { definitions, errors };
}

/** How many definition files `<dir>/<parent>` holds (UUID-named entries), without reading them. */
export async function countDefinitions(dir: string, parent: string): Promise<number> {
  try {
    return (await readdir(path.join(dir, parent))).filter(isUuid).length;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
}

/** Every definition under `dir`, all parents (bad files are reported in `errors`). */
export async function readAllDefinitions(dir: string): Promise<ParentDefinitions> {
  let parents: string[];
  try {
    parents = (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory() && d.name !== 'scripts.d').map((d) => d.name);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { definitions: [], errors: [] };
    throw e;
  }
  const definitions: StoredDefinition[] = [];
  const errors: { file: string; error: Error }[] = [];
  for (const p of parents.sort()) {
    const r = await readParentDefinitions(dir, p);
    definitions.push(...r.definitions);
    errors.push(...r.errors);
  }
  return { definitions, errors };
}

/**
 * Write a definition atomically (temp file, fsync, rename, fsync of the directory), so umdevd, umdevctl and mdevctl
 * share one directory safely. With `exclusive`, `EEXIST` when the uuid is already defined on
 * this parent, decided by the filesystem (no check-then-write race).
 */
export async function writeDefinition(dir: string, def: StoredDefinition, exclusive = false): Promise<void> {
  await writeDefinitionFile(path.join(dir, def.parent, def.uuid), formatDefinition(def), { exclusive });
}

/** Remove a definition; `ENOENT` when it does not exist. */
export async function removeDefinition(dir: string, parent: string, uuid: string): Promise<void> {
  try {
    await unlink(path.join(dir, parent, uuid.toLowerCase()));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw err('ENOENT', `${uuid} is not defined on ${parent}`);
    throw e;
  }
}
