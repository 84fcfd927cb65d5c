/**
 * The load of `screen-load`, in a process of its own (so the client being timed shares no event loop with it):
 * keeps N requests for a device's screen.png in flight on the API until SIGTERM, then prints the answers by status
 * as JSON.
 *
 *   node dist/bench/_screen-hammer.js API_SOCKET UUID N
 */
import { apiCall, parseEndpoint } from '../src/api-client/http.js';

const [socket, uuid, n] = process.argv.slice(2);
const ep = parseEndpoint(socket!);
const statuses: Record<string, number> = {};
let done = false;
process.once('SIGTERM', () => (done = true));
await Promise.all(
  Array.from({ length: Number(n) }, async () => {
    while (!done) {
      const r = await apiCall(ep, 'GET', `/devices/${uuid}/screen.png`);
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    }
  }),
);
process.stdout.write(`${JSON.stringify(statuses)}\n`);
