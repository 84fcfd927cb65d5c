/**
 * The lines umdevd prints on stderr just before `umdevd ready`: what the parents offer, where everything is, and
 * commands to try, each one something the user who started the daemon may do (a user who is not root is offered
 * reads only: changes need root or the API group, and `umdevctl exec` needs root).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MdevType } from '../core/types.js';
import type { Daemon } from './daemon.js';

/** The checkout's (or the global install's) bin/, where the greeting points people for the other commands. */
const BIN = fileURLToPath(new URL('../../../bin/', import.meta.url));

/** Free instances of a type for the greeting; a vendor that cannot say right now is shown as `?`. */
function freeOf(d: Daemon, t: MdevType): string {
  try {
    return String(d.core.availableInstances(t));
  } catch {
    return '?';
  }
}

/** How a person reaches the daemon; printed on stderr just before the ready line. */
export function greeting(d: Daemon, who: { readonly root: boolean; readonly cwd: string }): string {
  const c = d.config;
  // Short paths when the state dir is below the working directory, absolute ones otherwise.
  const rel = (p: string): string => {
    const r = path.relative(who.cwd, p);
    return r === '' ? '.' : r.startsWith('..') ? p : r;
  };
  const tool = (name: string): string => {
    const r = rel(path.join(BIN, name));
    return r.startsWith('/') ? r : `./${r}`;
  };
  // What the parents offer right now: the first proof that the daemon works, before anything else is tried.
  const parents = d.core.parents().map((p) => `  parent ${p.name}: ${p.types.map((t) => `${t.id} (${freeOf(d, t)} free)`).join(', ')}`);
  const lines = [
    ...parents,
    d.mounted ? `  sysfs:       ${c.mount.path} (FUSE)` : `  sysfs:       not mounted (${d.mountProblem})`,
    `  sockets:     ${c.sockets.dir}/<uuid>.sock (vfio-user)`,
    `  definitions: ${c.definitions}`,
    d.apiSocket === undefined ? '  api:         disabled' : `  api:         ${d.apiSocket} (also in ${path.join(c.stateDir, 'api.json')})`,
    ...(d.apiUrl === undefined ? [] : [`  api (tcp):   ${d.apiUrl} (Authorization: Bearer <token in ${c.api.tokenFile}>)`]),
    'try:',
  ];
  // What this user may do: the daemon's own user reads the tree and the API; changes need root or api.group, and
  // `umdevctl exec` needs root (mount namespaces), so a daemon started by another user suggests only reads.
  const root = who.root;
  const inCwd = path.resolve(c.stateDir) === path.resolve(who.cwd, 'umdev-state');
  const where = inCwd ? '' : ` --state-dir ${rel(c.stateDir)}`;
  lines.push(`  ${tool('umdevctl')}${where} types`);
  if (d.mounted && root) lines.push(`  ${tool('umdevctl')} exec${where} -- mdevctl start -p ${d.core.parents()[0]?.name ?? 'mtty'} -t ${d.core.parents()[0]?.types.at(-1)?.id ?? 'mtty-2'}   (the unmodified mdevctl on this tree)`);
  const parent = d.core.parents()[0];
  const type = parent?.types[parent.types.length - 1];
  if (d.apiSocket !== undefined && type !== undefined) {
    if (root) {
      const body = `{"parent":"${parent.name}","type":"${type.id}"}`;
      lines.push(`  curl -s --unix-socket ${rel(d.apiSocket)} -H 'content-type: application/json' http://umdev/devices -d '${body}'`);
    } else {
      lines.push(`  curl -s --unix-socket ${rel(d.apiSocket)} http://umdev/types   (reads; creating devices needs root or the api.group)`);
    }
  }
  lines.push(`  ${tool('umdev-uart')}${where} <uuid> hello   (an mtty device's UART in loopback)`);
  return `${lines.join('\n')}\n`;
}

