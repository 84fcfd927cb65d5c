/**
 * The fenced blocks of the documentation (README.md and docs/**), and how each `sh` block is to be run, from the
 * `<!-- doc-test: … -->` comment on the line before it (see docs/testing.md). Pure: reading and parsing only.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout (dist/test/docs → ../../..). */
export const CHECKOUT = fileURLToPath(new URL('../../../', import.meta.url));

/** How a command block runs. */
export type BlockMode =
  | { readonly kind: 'run' }
  | { readonly kind: 'background'; readonly until: string }
  | { readonly kind: 'fails'; readonly expect: string }
  | { readonly kind: 'vm' }
  | { readonly kind: 'no-run'; readonly reason: string };

/** One fenced block. `line` is the 1-based line of its opening fence. */
export interface Block {
  readonly file: string;
  readonly line: number;
  readonly lang: string;
  readonly code: string;
  readonly mode: BlockMode;
}

/** Every documentation file, README first, then docs/ in path order. Paths relative to the checkout. */
export function docFiles(root = CHECKOUT): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(path.join(root, dir), { withFileTypes: true })
      .sort((a, b) => a.name.localeCompare(b.name))
      .flatMap((e) => (e.isDirectory() ? walk(`${dir}/${e.name}`) : e.name.endsWith('.md') ? [`${dir}/${e.name}`] : []));
  return ['README.md', ...walk('docs')];
}

const ANNOTATION = /^<!-- doc-test: (.*) -->$/;

function parseMode(text: string, where: string): BlockMode {
  const quoted = /^(background|fails) "(.+)"$/.exec(text);
  if (quoted?.[1] === 'background') return { kind: 'background', until: quoted[2]! };
  if (quoted?.[1] === 'fails') return { kind: 'fails', expect: quoted[2]! };
  if (text === 'vm') return { kind: 'vm' };
  const noRun = /^no-run \((.+)\)$/.exec(text);
  if (noRun !== null) return { kind: 'no-run', reason: noRun[1]! };
  throw new Error(`${where}: unknown doc-test comment "${text}" (background "TEXT", fails "TEXT", vm, no-run (REASON))`);
}

/** The fenced blocks of one file. Throws on a fence without a language or an annotation on a non-`sh` block. */
export function blocksOf(file: string, root = CHECKOUT): Block[] {
  const lines = readFileSync(path.join(root, file), 'utf8').split('\n');
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(.*)$/.exec(lines[i]!);
    if (open === null) continue;
    const where = `${file}:${i + 1}`;
    const lang = open[1]!.trim();
    if (lang === '') throw new Error(`${where}: a fenced block must name its language (sh for a command; text, json, ts, xml otherwise)`);
    let end = i + 1;
    while (end < lines.length && lines[end] !== '```') end++;
    if (end === lines.length) throw new Error(`${where}: the block is never closed`);
    const before = lines[i - 1] ?? '';
    const note = ANNOTATION.exec(before);
    if (note !== null && lang !== 'sh') throw new Error(`${where}: a doc-test comment is only for sh blocks`);
    out.push({ file, line: i + 1, lang, code: lines.slice(i + 1, end).join('\n'), mode: note === null ? { kind: 'run' } : parseMode(note[1]!, where) });
    i = end;
  }
  return out;
}
