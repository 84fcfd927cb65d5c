/**
 * The layering of `src/` (ARCHITECTURE.md's folder table), checked on the TypeScript sources, type-only imports
 * included: a type is as much a dependency as a value. Each unit (a folder, or a file at the top of `src/`) has a
 * rank; a unit may import only units of a lower rank, so the layers read top-down and no two units lean on each
 * other. A vendor driver imports only the SDK's index (and node built-ins), the core is reached only through its
 * index, the CLI is imported by no one, and no module is part of an import cycle.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

/** Lower imports nothing higher; units of one rank do not import each other. */
const RANK: Readonly<Record<string, number>> = {
  'errors.ts': 0,
  'log.ts': 1,
  'validate.ts': 1,
  metrics: 1,
  native: 1,
  display: 1,
  'log-limit.ts': 2,
  core: 2,
  fuse: 2,
  vfio: 2,
  mdevctl: 2,
  sysfs: 3,
  'vfio-user': 3,
  'api-client': 3,
  vm: 3,
  sdk: 4,
  dashboard: 4,
  drivers: 5,
  daemon: 6,
  k8s: 6,
  tools: 6,
  cli: 7,
};

/** The `.ts` sources under `dir` (the dashboard's browser page is compiled apart and imports only its own files). */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return p === join(SRC, 'dashboard', 'ui') ? [] : sources(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** Every module `file` names in an import, export-from or `import()`, as written. */
function specifiers(file: string): string[] {
  return ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles.map((f) => f.fileName);
}

/** The source a relative specifier names (`./x.js` → `x.ts`), or undefined for a package or built-in. */
function target(file: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  return resolve(dirname(file), spec).replace(/\.js$/, '.ts');
}

/** The unit a source belongs to: its top-level folder, or its own name at the top of `src/`. */
function unit(file: string): string {
  return relative(SRC, file).split('/')[0]!;
}

const FILES = sources(SRC);
const EDGES = FILES.flatMap((from) => specifiers(from).map((spec) => ({ from, spec, to: target(from, spec) })));

test('every unit of src/ has a rank', () => {
  const units = [...new Set(FILES.map(unit))].sort();
  assert.deepEqual(units.filter((u) => RANK[u] === undefined), [], 'give each new folder a rank in this test');
  // The table is what the test enforces, so it must name only what exists.
  assert.deepEqual(Object.keys(RANK).filter((u) => !units.includes(u)), []);
});

test('a unit imports only units of a lower rank', () => {
  const bad = EDGES.flatMap(({ from, spec, to }) => {
    if (to === undefined || !to.startsWith(SRC)) return [];
    const [a, b] = [unit(from), unit(to)];
    return a === b || RANK[b]! < RANK[a]! ? [] : [`${relative(SRC, from)} (${a}, rank ${RANK[a]}) imports ${spec} (${b}, rank ${RANK[b]})`];
  });
  assert.deepEqual(bad, []);
});

test('a vendor driver imports only src/sdk/index.ts, its own files and node built-ins', () => {
  const drivers = FILES.filter((f) => unit(f) === 'drivers');
  assert.ok(drivers.length > 0);
  const sdk = join(SRC, 'sdk', 'index.ts');
  const bad = EDGES.flatMap(({ from, spec, to }) => {
    if (unit(from) !== 'drivers') return [];
    const own = join(SRC, 'drivers', relative(join(SRC, 'drivers'), from).split('/')[0]!);
    const ok = to === undefined ? spec.startsWith('node:') : to === sdk || to.startsWith(`${own}/`);
    return ok ? [] : [`${relative(SRC, from)} imports ${spec}`];
  });
  assert.deepEqual(bad, []);
});

test('outside src/core, the core is imported through its public surface, src/core/index.ts', () => {
  const index = join(SRC, 'core', 'index.ts');
  const bad = EDGES.filter(({ from, to }) => to !== undefined && unit(to) === 'core' && unit(from) !== 'core' && to !== index).map(({ from, spec }) => `${relative(SRC, from)} imports ${spec}`);
  assert.deepEqual(bad, []);
});

test('nothing outside src/cli imports the CLI', () => {
  const bad = EDGES.filter(({ from, to }) => to !== undefined && unit(to) === 'cli' && unit(from) !== 'cli').map(({ from, spec }) => `${relative(SRC, from)} imports ${spec}`);
  assert.deepEqual(bad, []);
});

test('no module of src/ is part of an import cycle', () => {
  const next = new Map<string, string[]>(FILES.map((f) => [f, []]));
  for (const { from, to } of EDGES) if (to !== undefined && next.has(to)) next.get(from)!.push(to);
  // Tarjan's strongly connected components: a component of more than one module (or a self-import) is a cycle.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const cycles: string[][] = [];
  let n = 0;
  const visit = (v: string): void => {
    index.set(v, n);
    low.set(v, n++);
    stack.push(v);
    on.add(v);
    for (const w of next.get(v)!) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(relative(SRC, w));
      } while (w !== v);
      if (scc.length > 1 || next.get(v)!.includes(v)) cycles.push(scc.sort());
    }
  };
  for (const f of FILES) if (!index.has(f)) visit(f);
  assert.deepEqual(cycles, []);
});

test('the checks see what they check: a driver, the SDK and the CLI are found, with their imports', () => {
  const mtty = EDGES.filter(({ from }) => relative(SRC, from) === 'drivers/mtty/index.ts').map(({ spec }) => spec);
  assert.ok(mtty.includes('../../sdk/index.js'), mtty.join(', '));
  assert.ok(EDGES.some(({ from, to }) => unit(from) === 'cli' && to !== undefined && unit(to) === 'mdevctl'));
  // Type-only and dynamic imports count.
  assert.deepEqual(specifiers(join(SRC, 'cli', 'table', 'mdevctl.ts')).filter((s) => s === '../list.js' || s === '../types.js').sort(), ['../list.js', '../types.js']);
  assert.ok(specifiers(join(SRC, 'cli', 'table', 'types.ts')).includes('../../mdevctl/io.js'), 'a type-only import');
});
