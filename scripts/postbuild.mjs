// Marks the built entry points executable: tsc writes plain files, and someone may run one directly
// (bin/* exec node on them, which needs no mode bit). Copies what tsc does not: umdev-k8s's .proto files, which it
// loads at run time from next to its module, and the dashboard page's HTML and CSS. Bundles the CLI for bin/umdevctl and bin/lsmdev (bundle-cli.mjs).
import { chmodSync, cpSync, existsSync } from 'node:fs';
import { URL } from 'node:url';

for (const path of ['dist/src/daemon/main.js', 'dist/src/cli/main.js', 'dist/src/cli/lsmdev.js', 'dist/src/tools/umdev-uart.js', 'dist/src/k8s/main.js']) {
  const file = new URL(`../${path}`, import.meta.url);
  if (existsSync(file)) chmodSync(file, 0o755);
}
cpSync(new URL('../src/k8s/proto/', import.meta.url), new URL('../dist/src/k8s/proto/', import.meta.url), { recursive: true });
// The dashboard's page: tsc built its scripts into dist/ui/; its HTML and styles go beside them.
for (const name of ['index.html', 'style.css', 'icon.svg']) cpSync(new URL(`../src/dashboard/ui/${name}`, import.meta.url), new URL(`../dist/ui/${name}`, import.meta.url));
await import('./bundle-cli.mjs');
