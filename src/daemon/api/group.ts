/** Resolving the API's group (`api.group`: a name or a gid) to a gid, from /etc/group as getgrnam(3) would. */
import { readFile } from 'node:fs/promises';
import { err } from '../../errors.js';

/** The gid of `group`; a number is taken as it is. `EINVAL` for a name /etc/group does not list. */
export async function resolveGroup(group: string | number, groupFile = '/etc/group'): Promise<number> {
  if (typeof group === 'number') return group;
  if (/^\d+$/.test(group)) return Number(group);
  let text = '';
  try {
    text = await readFile(groupFile, 'utf8');
  } catch (e) {
    throw err('EINVAL', `cannot read ${groupFile} to find group ${group}: ${(e as Error).message}`, e);
  }
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw err('EINVAL', `api.group: no group named ${JSON.stringify(group)} in ${groupFile}`);
}
