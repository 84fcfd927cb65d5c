// Marks the built `bin` entries executable: tsc writes plain files, and `npx umdevd` runs the bin directly.
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { URL } from 'node:url';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
for (const path of Object.values(pkg.bin ?? {})) {
  const file = new URL(`../${path}`, import.meta.url);
  if (existsSync(file)) chmodSync(file, 0o755);
}
