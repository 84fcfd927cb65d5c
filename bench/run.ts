/**
 * `npm run bench -- NAME`: runs `bench/NAME.ts`. Each bench measures its own baseline in the same run and prints,
 * as its last line, one JSON object with its figures (`ratio` among them).
 */
import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.js') && f !== 'run.js' && !f.startsWith('_'))
  .map((f) => f.slice(0, -3));
const name = process.argv[2];
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- NAME   (one of: ${available.join(', ') || 'none yet'})`);
  process.exit(2);
}
const mod = (await import(pathToFileURL(`${here}/${name}.js`).href)) as { main?: (argv: string[]) => Promise<void> };
if (typeof mod.main !== 'function') {
  console.error(`bench ${name} has no exported main()`);
  process.exit(2);
}
await mod.main(process.argv.slice(3));
