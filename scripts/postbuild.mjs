// Marks the built entry points executable: tsc writes plain files, and someone may run one directly
// (bin/* exec node on them, which needs no mode bit).
import { chmodSync, existsSync } from 'node:fs';
import { URL } from 'node:url';

for (const path of ['dist/src/daemon/main.js', 'dist/src/cli/main.js', 'dist/src/cli/lsmdev.js', 'dist/src/tools/umdev-uart.js']) {
  const file = new URL(`../${path}`, import.meta.url);
  if (existsSync(file)) chmodSync(file, 0o755);
}
