/**
 * Concepts: reading a small text file as mdevctl does (`fs::read_to_string`), with its error texts: an os error, or
 * "stream did not contain valid UTF-8".
 */
import { readFile } from 'node:fs/promises';
import { fail, osError } from './failure.js';

/** `fs::read_to_string`: the whole file, which must be UTF-8. */
export async function readToString(p: string): Promise<string> {
  let buf: Buffer;
  try {
    buf = await readFile(p);
  } catch (e) {
    throw osError(e);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(buf);
  } catch {
    throw fail('EINVAL', 'stream did not contain valid UTF-8');
  }
}
