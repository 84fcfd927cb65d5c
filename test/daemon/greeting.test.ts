/**
 * umdevd's greeting offers each user only what that user may do: root gets mdevctl through `umdevctl exec` and a
 * create through the API; anyone else gets reads (changes need root or api.group, `exec` needs root), never a
 * command the daemon would refuse them. A state dir other than ./umdev-state is named in every command.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Daemon } from '../../src/daemon/daemon.js';
import { greeting } from '../../src/daemon/greeting.js';

function fakeDaemon(stateDir: string): Daemon {
  const type = { id: 'mtty-2' };
  return {
    config: { stateDir, mount: { path: `${stateDir}/sys` }, sockets: { dir: `${stateDir}/run` }, definitions: `${stateDir}/mdevctl.d`, api: { tokenFile: `${stateDir}/api.token` } },
    core: { parents: () => [{ name: 'mtty', types: [{ id: 'mtty-1' }, type] }], availableInstances: () => 12 },
    mounted: true,
    mountProblem: undefined,
    apiSocket: `${stateDir}/api.sock`,
    apiUrl: undefined,
  } as unknown as Daemon;
}

test('the greeting suggests writes only to root, and names a state dir other than ./umdev-state', () => {
  const rootText = greeting(fakeDaemon('/home/u/umdev-state'), { root: true, cwd: '/home/u' });
  assert.match(rootText, /umdevctl types\n/);
  assert.match(rootText, /umdevctl exec -- mdevctl start -p mtty -t mtty-2/);
  assert.match(rootText, /curl -s --unix-socket umdev-state\/api\.sock -H 'content-type: application\/json' http:\/\/umdev\/devices -d/);
  const user = greeting(fakeDaemon('/home/u/umdev-state'), { root: false, cwd: '/home/u' });
  assert.doesNotMatch(user, / -d '|POST|exec /, 'nothing the daemon refuses its own user');
  assert.match(user, /curl -s --unix-socket umdev-state\/api\.sock http:\/\/umdev\/types {3}\(reads; creating devices needs root or the api\.group\)/);
  const elsewhere = greeting(fakeDaemon('/var/lib/umdev'), { root: true, cwd: '/home/u' });
  assert.match(elsewhere, /umdevctl --state-dir \/var\/lib\/umdev types/);
  assert.match(elsewhere, /umdevctl exec --state-dir \/var\/lib\/umdev -- mdevctl/);
  assert.match(elsewhere, /umdev-uart --state-dir \/var\/lib\/umdev <uuid> hello/);
});
