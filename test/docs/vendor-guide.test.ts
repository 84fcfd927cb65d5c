/**
 * docs/vendor-guide.md cannot drift from the code: every `ts` block names the file it comes from (`<!-- from: PATH
 * -->` on the line before it) and its lines are that file's lines, in order (`…` stands for what the guide leaves
 * out; a trailing `//` comment in the guide is the guide's own), and each claim the guide makes about a driver is
 * backed by a test that exists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CHECKOUT, blocksOf } from './blocks.js';

const GUIDE = 'docs/vendor-guide.md';
const FROM = /^<!-- from: (\S+) -->$/;

/** A line as compared: no indentation, no trailing `//` comment, single spaces. */
function norm(line: string): string {
  return line.replace(/\s+\/\/ .*$/, '').trim().replace(/\s+/g, ' ');
}

/** The guide's line as a pattern over a file's line: `…` matches anything. */
function pattern(line: string): RegExp {
  return new RegExp(`^${norm(line).split('…').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

/** Where the block's lines stop matching `file`'s lines in order, or undefined when they all do. */
export function firstMismatch(block: string, file: string): string | undefined {
  const lines = file.split('\n').map(norm);
  let at = 0;
  for (const line of block.split('\n')) {
    if (norm(line) === '' || norm(line) === '…') continue;
    const p = pattern(line);
    while (at < lines.length && !p.test(lines[at]!)) at++;
    if (at === lines.length) return line;
    at++;
  }
  return undefined;
}

test('every ts block of the vendor guide is in the file it names, line for line and in order', () => {
  const text = readFileSync(path.join(CHECKOUT, GUIDE), 'utf8').split('\n');
  const blocks = blocksOf(GUIDE).filter((b) => b.lang === 'ts');
  assert.ok(blocks.length >= 5, `${blocks.length} ts blocks`);
  for (const b of blocks) {
    const from = FROM.exec(text[b.line - 2] ?? '')?.[1];
    assert.ok(from !== undefined, `${GUIDE}:${b.line}: a ts block must say where it comes from (<!-- from: PATH -->)`);
    const miss = firstMismatch(b.code, readFileSync(path.join(CHECKOUT, from), 'utf8'));
    assert.equal(miss, undefined, `${GUIDE}:${b.line}: this line is not in ${from} (after the ones before it)`);
  }
});

test('the comparison fails where the guide and the file differ', () => {
  const file = 'a(1);\n  b(2); // why\nc(3);\n';
  assert.equal(firstMismatch('a(1);\n…\nc(3);', file), undefined);
  assert.equal(firstMismatch('b(…);   // the guide says more', file), undefined);
  assert.equal(firstMismatch('c(3);\na(1);', file), 'a(1);', 'order matters');
  assert.equal(firstMismatch('b(3);', file), 'b(3);');
});

/** What the guide says of a driver, and the test that shows it (a test title in a file). */
const CLAIMS: ReadonlyArray<{ readonly says: string; readonly file: string; readonly title: string }> = [
  { says: 'A driver imports nothing else from umdev', file: 'test/layering.test.ts', title: 'a vendor driver imports only src/sdk/index.ts, its own files and node built-ins' },
  {
    says: 'device hosts that run the model as an unprivileged user',
    file: 'test/e2e/device-host.test.ts',
    title: 'each device lives in one host of its own: its own uid, no privileges, seccomp; kept across sessions, gone with the device',
  },
  {
    says: 'an attribute written before a client connects is what the client reads',
    file: 'test/e2e/device-host.test.ts',
    title: 'mcount: an attribute written before a client is what it reads; what the client changes is what the attributes show, attached and after',
  },
  { says: 'Its test, `test/drivers/mcount/mcount.test.ts`, does every step below', file: 'test/drivers/mcount/mcount.test.ts', title: "the guide\\'s mcount driver: registered, created, served over vfio-user and driven by a client" },
  { says: 'fails its construction with `EINVAL` naming the problem', file: 'test/vfio/pci-device.test.ts', title: 'a bad declaration fails at construction with what is wrong' },
  { says: "A `device` that returns anything but a `PciDevice` fails the create with `EINVAL`", file: 'test/vfio-user/contract.test.ts', title: 'pciParent refuses a create that returns something else, naming the parent' },
];

test('each claim of the vendor guide is in the guide and is a test that exists', () => {
  // Compared across line breaks: the guide is wrapped.
  const flat = (s: string): string => s.replace(/\s+/g, ' ');
  const guide = flat(readFileSync(path.join(CHECKOUT, GUIDE), 'utf8'));
  for (const c of CLAIMS) {
    assert.ok(guide.includes(flat(c.says)), `the guide says "${c.says}"`);
    const tests = readFileSync(path.join(CHECKOUT, c.file), 'utf8');
    assert.ok(tests.includes(`test('${c.title}'`), `${c.file} has the test "${c.title}"`);
  }
});
