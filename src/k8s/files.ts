/**
 * Concepts: files umdev-k8s writes (CDI specs, its checkpoint), each written whole: a temp file beside it, fsync,
 * rename, so a reader never sees half of one. The mode is set explicitly with `fchmod` after `open`: `open`'s mode
 * is filtered by the process umask, and a file's mode must not depend on how the agent was started.
 */
import { open, rename, rm } from 'node:fs/promises';

/** Write `data` as JSON to `file` atomically, with exactly `mode`. The temp name ends in `.tmp` (CDI ignores it). */
export async function writeJsonAtomic(file: string, data: unknown, mode = 0o644): Promise<void> {
  const tmp = `${file}.tmp`;
  const h = await open(tmp, 'w', mode);
  try {
    await h.chmod(mode);
    await h.writeFile(`${JSON.stringify(data, null, 2)}\n`);
    await h.sync();
  } catch (e) {
    await h.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await h.close();
  await rename(tmp, file);
}
