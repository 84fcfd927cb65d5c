/**
 * The prober of `burst`, in a process of its own (so nothing of the bench shares its event loop): two loops, one
 * timing the API's `GET /types`, one a FUSE `stat` and `read` of an attribute, each with a pause of 10 ms between
 * probes, until SIGTERM; then prints every latency (ms) as JSON `{api: [...], fuse: [...]}`. It prints `ready` once
 * both loops have answered once.
 *
 *   node dist/bench/_burst-prober.js API_SOCKET ATTRIBUTE_PATH
 */
import { readFile, stat } from 'node:fs/promises';
import { apiCall, parseEndpoint } from '../src/cli/api-client.js';

const [socket, attribute] = process.argv.slice(2);
const ep = parseEndpoint(socket!);
const seen: { api: number[]; fuse: number[] } = { api: [], fuse: [] };
let done = false;
process.once('SIGTERM', () => (done = true));
const pause = (): Promise<void> => new Promise((r) => setTimeout(r, 10));

async function loop(what: 'api' | 'fuse', probe: () => Promise<unknown>): Promise<void> {
  while (!done) {
    const t0 = performance.now();
    await probe();
    seen[what].push(performance.now() - t0);
    await pause();
  }
}

const api = async (): Promise<void> => {
  const r = await apiCall(ep, 'GET', '/types');
  if (r.status !== 200) throw new Error(`GET /types answered ${r.status}`);
};
const fuse = async (): Promise<void> => {
  await stat(attribute!);
  await readFile(attribute!, 'utf8');
};
await Promise.all([api(), fuse()]);
process.stdout.write('ready\n');
await Promise.all([loop('api', api), loop('fuse', fuse)]);
process.stdout.write(`${JSON.stringify(seen)}\n`);
