// Marks the built entry points executable: tsc writes plain files, and someone may run one directly
// (bin/* exec node on them, which needs no mode bit). Copies what tsc does not: umdev-k8s's .proto files, which it
// loads at run time from next to its module, and the dashboard page's HTML and CSS. Bundles the page's scripts (bundle-ui.mjs) and the CLI for bin/umdevctl and bin/lsmdev (bundle-cli.mjs).
import { chmodSync, cpSync, existsSync, writeFileSync } from 'node:fs';
import process from 'node:process';
import { URL } from 'node:url';

// UMDEV_DIST_DIR: build into another directory than dist/ (scripts/install-build.mjs swaps it in afterwards).
const DIST = process.env.UMDEV_DIST_DIR ?? 'dist';

for (const path of ['src/daemon/main.js', 'src/cli/main.js', 'src/cli/lsmdev.js', 'src/tools/umdev-uart.js', 'src/tools/umdev-fb.js', 'src/k8s/main.js']) {
  const file = new URL(`../${DIST}/${path}`, import.meta.url);
  if (existsSync(file)) chmodSync(file, 0o755);
}
cpSync(new URL('../src/k8s/proto/', import.meta.url), new URL(`../${DIST}/src/k8s/proto/`, import.meta.url), { recursive: true });
// The dashboard's page: tsc built its scripts into <dist>/ui/, bundled into one (bundle-ui.mjs); its HTML and
// styles go beside them.
for (const name of ['index.html', 'style.css', 'icon.svg']) cpSync(new URL(`../src/dashboard/ui/${name}`, import.meta.url), new URL(`../${DIST}/ui/${name}`, import.meta.url));
await import('./bundle-ui.mjs');
await import('./bundle-cli.mjs');
// What install-build.mjs compares with the sources' times to tell a current build from a stale one.
writeFileSync(new URL(`../${DIST}/.build-stamp`, import.meta.url), `${new Date().toISOString()}\n`);
