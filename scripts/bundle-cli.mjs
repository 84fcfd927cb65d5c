// Bundles the CLI for bin/umdevctl and bin/lsmdev: dist/src/cli/main.js and every module it imports, statically or
// dynamically, as CommonJS. Why: a quick command (`umdevctl list`) spent most of its time in Node's ES module
// loader, which reads each module through the thread pool and compiles it apart (Node 20 has no compile cache);
// a CommonJS file is one synchronous read, and no ES module loader starts at all.
//
// Two files share one module table: dist/src/cli/umdevctl.cjs holds main.js and what it, list and types import
// statically (what a quick command runs); umdevctl-more.cjs holds the other commands and help, read the first time
// one of their modules is needed. Each module keeps its own scope (a function run the first time the module is
// needed, as a dynamic import() would), so names never clash and lazily imported modules stay unevaluated; every
// module the CLI reaches is in one of the two files, so none is ever loaded twice (a second copy of errors.js would
// make its UmdevError a different class).
//
// Only the forms tsc emits for this code are understood: `import { a, b as c } from '…'`, `import x from 'node:…'`,
// `import '…'`, `import('literal')`, `export function|async function|class|const`, and `import.meta.url` (the
// module's own URL in dist). Anything else, a top-level await included, fails the build, as do modules whose exports
// differ from the ES modules'.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { posix } from 'node:path';
import process from 'node:process';
import { URL } from 'node:url';
import ts from 'typescript';

const DIST = new URL(`../${process.env.UMDEV_DIST_DIR ?? 'dist'}/`, import.meta.url);
const ENTRY = 'src/cli/main.js';
/** The commands that must start fast (`npm run bench -- cli`); lsmdev is list. */
const QUICK = ['src/cli/list.js', 'src/cli/types.js'];
const OUT = 'src/cli/umdevctl.cjs';
const MORE = 'src/cli/umdevctl-more.cjs';

/**
 * Built-in modules costly to load in CommonJS (fs/promises: a dozen internal modules) that list and types do not
 * use: their imported names (functions, checked below) become wrappers that require the module on the first call.
 */
const LAZY = new Set(['node:fs/promises']);

const IMPORT = /^import\s+(?:(\w+)\s+from\s+|\{([^}]*)\}\s+from\s+)?(['"])([^'"]+)\3;$/gm;
const DYNAMIC = /\bimport\((['"])([^'"]+)\1\)/g;
const EXPORT = /^export (async function|function|class|const) (\w+)/gm;

const PRINTER = ts.createPrinter({ removeComments: true });

/** One module as the body of a function; its static and dynamic imports (module ids), exports and lazy built-ins. */
function transform(id, text) {
  const m = { imports: [], dynamic: [], exported: [], lazy: [], code: '' };
  const local = (spec, list) => {
    const dep = posix.normalize(posix.join(posix.dirname(id), spec));
    list.push(dep);
    return `$umdevLoad(${JSON.stringify(dep)})`;
  };
  const source = (spec, list) => (spec.startsWith('.') ? local(spec, list) : `require(${JSON.stringify(spec)})`);
  // Reprinted without comments by TypeScript's own printer (a quarter less to read and scan at every start).
  let body = PRINTER.printFile(ts.createSourceFile(id, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.JS)).replace(/^#!.*\n/, '');
  body = body.replace(IMPORT, (_, def, names, _q, spec) => {
    if (def !== undefined) {
      if (spec.startsWith('.')) throw new Error(`${id}: default import of ${spec}`);
      return `const ${def} = ${source(spec, m.imports)};`;
    }
    if (names === undefined) return `${source(spec, m.imports)};`;
    const bindings = names.split(',').map((n) => n.trim()).filter((n) => n !== '').map((n) => {
      const [name, as = name] = n.split(/\s+as\s+/);
      if (!/^\w+$/.test(name) || !/^\w+$/.test(as)) throw new Error(`${id}: import of ${n} from ${spec}`);
      return [name, as];
    });
    if (LAZY.has(spec)) {
      m.lazy.push(...bindings.map(([name]) => [spec, name]));
      return `const ${bindings.map(([name, as]) => `${as} = (...args) => require(${JSON.stringify(spec)}).${name}(...args)`).join(', ')};`;
    }
    return `const { ${bindings.map(([name, as]) => (name === as ? name : `${name}: ${as}`)).join(', ')} } = ${source(spec, m.imports)};`;
  });
  body = body.replace(DYNAMIC, (_, _q, spec) => `Promise.resolve().then(() => ${source(spec, m.dynamic)})`);
  body = body.replace(EXPORT, (_, kind, name) => {
    m.exported.push(name);
    return `${kind} ${name}`;
  });
  body = body.replaceAll('import.meta.url', '$umdevUrl');
  const left = /^\s*(import|export)\b.*$/m.exec(body) ?? /\bimport\.meta\b|\bimport\s*\(/.exec(body);
  if (left !== null) throw new Error(`${id}: not understood by scripts/bundle-cli.mjs: ${left[0].trim()}`);
  m.code = `${JSON.stringify(id)}: function ($umdevExports, $umdevUrl) {\n${body.trimEnd()}\nObject.assign($umdevExports, { ${m.exported.join(', ')} });\n},\n`;
  return m;
}

/** `roots` and every module they import, statically only or also dynamically. */
function closure(modules, roots, dynamic) {
  const seen = new Set();
  const queue = [...roots];
  while (queue.length > 0) {
    const id = queue.shift();
    if (seen.has(id)) continue;
    seen.add(id);
    let m = modules.get(id);
    if (m === undefined) {
      m = transform(id, readFileSync(new URL(id, DIST), 'utf8'));
      modules.set(id, m);
    }
    queue.push(...m.imports, ...(dynamic ? m.dynamic : []));
  }
  return seen;
}

/**
 * ASCII only (a non-ASCII character in a string becomes a \u escape): Node then decodes the file straight into a
 * one-byte string, instead of a two-byte one (twice the size, and slower for V8 to scan).
 */
function write(file, text) {
  writeFileSync(new URL(file, DIST), text.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

const modules = new Map();
const all = closure(modules, [ENTRY], true);
const quick = closure(modules, [ENTRY, ...QUICK], false);
const more = [...all].filter((id) => !quick.has(id)).sort();
const generated = `// Generated by scripts/bundle-cli.mjs from ${ENTRY} and the modules it reaches; do not edit.\n`;
const root = posix.relative(posix.dirname(OUT), '.');

write(
  OUT,
  `'use strict';\n${generated}` +
    `const $umdevRoot = require('node:url').pathToFileURL(require('node:path').join(__dirname, ${JSON.stringify(root)}, '/')).href;\n` +
    `const $umdevModules = {\n${[...quick].sort().map((id) => modules.get(id).code).join('')}};\n` +
    `const $umdevLoaded = new Map();\n` +
    `function $umdevLoad(id) {\n` +
    `  let exports = $umdevLoaded.get(id);\n` +
    `  if (exports === undefined) {\n` +
    `    if (!Object.hasOwn($umdevModules, id)) Object.assign($umdevModules, require(${JSON.stringify(`./${posix.basename(MORE)}`)})($umdevLoad));\n` +
    `    exports = {};\n` +
    `    $umdevLoaded.set(id, exports);\n` +
    `    $umdevModules[id].call(undefined, exports, new URL(id, $umdevRoot).href);\n` +
    `  }\n` +
    `  return exports;\n` +
    `}\n` +
    `module.exports = $umdevLoad(${JSON.stringify(ENTRY)});\n`,
);
write(MORE, `'use strict';\n${generated}module.exports = ($umdevLoad) => ({\n${more.map((id) => modules.get(id).code).join('')}});\n`);

// Both files compile, the bundle loads, and every module exports what its ES module does.
const req = createRequire(import.meta.url);
if (typeof req(new URL(OUT, DIST).pathname).cli !== 'function') throw new Error(`${OUT}: no cli()`);
const rest = Object.keys(req(new URL(MORE, DIST).pathname)(() => undefined));
if (rest.join() !== more.join()) throw new Error(`${MORE}: holds ${rest.join()}, not ${more.join()}`);
for (const id of all) {
  const m = modules.get(id);
  const esm = await import(new URL(id, DIST).href);
  if (Object.keys(esm).sort().join() !== [...m.exported].sort().join()) throw new Error(`${id}: exports ${Object.keys(esm)}, the bundle ${m.exported}`);
  for (const [spec, name] of m.lazy) {
    if (typeof (await import(spec))[name] !== 'function') throw new Error(`${id}: ${name} from ${spec} is not a function, so it cannot be loaded lazily`);
  }
}
process.stdout.write(`${OUT}: ${quick.size} modules; ${MORE}: ${more.length}\n`);
