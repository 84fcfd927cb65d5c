/** Resolve the device hosts' user from the config: a uid, or a name looked up in /etc/passwd (Node has no getpwnam). */
import { readFileSync } from 'node:fs';
import { err } from '../../errors.js';

export interface HostUser {
  readonly uid: number;
  readonly gid: number;
}

export function resolveUser(user: string | number, passwd = '/etc/passwd'): HostUser {
  const lines = readFileSync(passwd, 'utf8').split('\n');
  for (const line of lines) {
    const [name, , uid, gid] = line.split(':');
    if (uid === undefined || gid === undefined) continue;
    if (name === user || Number(uid) === user) return { uid: Number(uid), gid: Number(gid) };
  }
  if (typeof user === 'number') return { uid: user, gid: user };
  throw err('EINVAL', `deviceHosts.user: no user named ${user} in ${passwd}`);
}
