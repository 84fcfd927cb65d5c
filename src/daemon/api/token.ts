/**
 * Concepts: the bearer token of the API's TCP listener. Anyone who can reach a TCP port can call it, so the token is
 * what stands for "root or the group": it lives in a root-owned 0600 file that only they can read. It is made once
 * (32 random bytes, hex) and kept across restarts so configured clients keep working.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { open, readFile, stat } from 'node:fs/promises';
import { err } from '../../errors.js';

/** Read the token from `file`, creating it (mode 0600, exclusive) with a fresh random token when it is missing. */
export async function loadToken(file: string): Promise<string> {
  try {
    const h = await open(file, 'wx', 0o600);
    try {
      await h.writeFile(`${randomBytes(32).toString('hex')}\n`);
      await h.sync();
    } finally {
      await h.close();
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  // A token others can read is no secret: refuse to serve TCP with it rather than trust it.
  const st = await stat(file);
  if ((st.mode & 0o077) !== 0) throw err('EACCES', `${file} is readable by others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
  const token = (await readFile(file, 'utf8')).trim();
  if (token.length < 16) throw err('EINVAL', `${file} holds no usable token (at least 16 characters)`);
  return token;
}

/** True when `header` is `Bearer <token>`; compared in constant time. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer +(\S+)\s*$/i.exec(header ?? '');
  if (m === null) return false;
  const a = Buffer.from(m[1]);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}
