/**
 * Concepts: the names umdevd takes from outside (config, API paths and bodies) and turns into sysfs entries and
 * definition file paths. Each check returns what is wrong in words, or undefined; callers collect it as `EINVAL`, so
 * a bad name is a clear 400 and never reaches `fs` (where a NUL throws a non-errno error, i.e. a 500) or a path join.
 */
import { isEntryName } from '../core/index.js';
import { isUuid } from '../mdevctl/store.js';

/**
 * Entries of the definitions dir that are not parents: mdevctl keeps its callout and notifier scripts in
 * `scripts.d`, and a parent of that name would share the directory and be skipped when definitions are listed.
 */
export const RESERVED_PARENT_NAMES: readonly string[] = ['scripts.d'];

/** Why `name` cannot be a parent name, or undefined when it can. */
export function parentNameProblem(name: string): string | undefined {
  if (!isEntryName(name)) return 'a name of 1 to 255 bytes without "/", NUL or whitespace, other than "." and ".."';
  // A leading dot hides the directory, and the atomic writer's temp files start with one.
  if (name.startsWith('.')) return 'a name that does not start with "."';
  if (RESERVED_PARENT_NAMES.includes(name)) return `a name other than ${RESERVED_PARENT_NAMES.map((n) => JSON.stringify(n)).join(', ')}`;
  return undefined;
}

/** Why `id` cannot be a type id (`<driver>-<name>`, one sysfs entry), or undefined. */
export function typeIdProblem(id: string): string | undefined {
  return isEntryName(id) ? undefined : 'a type id of 1 to 255 bytes without "/", NUL or whitespace';
}

/** Why `uuid` is not a UUID in its 36-character form, or undefined. */
export function uuidProblem(uuid: string): string | undefined {
  return isUuid(uuid) ? undefined : 'a UUID such as 3f2a8c5e-1b2d-4e6f-8a9b-0c1d2e3f4a5b';
}

/**
 * Why `name` cannot be a definition attribute: a path relative to the device's directory (`vendor/knob`), each
 * segment one entry name; no `.`/`..`, so it cannot leave the device's directory.
 */
export function attrNameProblem(name: string): string | undefined {
  if (name.length === 0 || Buffer.byteLength(name) > 4096) return 'an attribute path of 1 to 4096 bytes';
  return name.split('/').every(isEntryName) ? undefined : 'an attribute path of entry names separated by "/"';
}

/** True when a string anywhere in `v` (a key or a value, at any depth) holds a NUL. */
export function containsNul(v: unknown): boolean {
  // A stack of our own, not recursion: a 64 KiB body can nest 30,000 arrays deep, past the JS stack.
  const todo: unknown[] = [v];
  while (todo.length > 0) {
    const x = todo.pop();
    if (typeof x === 'string') {
      if (x.includes('\0')) return true;
    } else if (Array.isArray(x)) {
      for (const y of x as unknown[]) todo.push(y);
    } else if (typeof x === 'object' && x !== null) {
      for (const [k, y] of Object.entries(x)) {
        if (k.includes('\0')) return true;
        todo.push(y);
      }
    }
  }
  return false;
}
