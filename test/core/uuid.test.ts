import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseUuid, uuidKey } from '../../src/core/uuid.js';
import { expectErrno } from './helpers.js';

const U = '3f2a1c4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b';

test('parseUuid accepts what create_store accepts and stores lower case', () => {
  const ok: [string, string][] = [
    [U, U],
    [`${U}\n`, U],
    [U.toUpperCase(), U],
    [`${U.toUpperCase()}\n`, U],
    // The 37th byte is not checked, as guid_parse only reads 36.
    [`${U}x`, U],
    [`${U} `, U],
    ['00000000-0000-0000-0000-000000000000', '00000000-0000-0000-0000-000000000000'],
  ];
  for (const [input, want] of ok) assert.equal(parseUuid(input), want, JSON.stringify(input));
});

test('parseUuid refuses bad lengths and malformed UUIDs with EINVAL', async () => {
  const bad = [
    '',
    U.slice(0, 35),
    `${U}\n\n`,
    `${U}ab`,
    `\n${U}`,
    U.replace(/-/g, '') + '0000',
    U.replace('-', 'x'),
    U.replace('a', 'g'),
    '3f2a1c4e-5b6d-4e7f-8a9b0-c1d2e3f4a5b',
    ' '.repeat(36),
  ];
  for (const input of bad) await expectErrno(() => parseUuid(input), 'EINVAL');
  await expectErrno(() => parseUuid(42 as unknown as string), 'EINVAL');
});

test('uuidKey lower-cases only', () => {
  assert.equal(uuidKey(U.toUpperCase()), U);
  assert.equal(uuidKey(U), U);
  assert.equal(uuidKey('not-a-uuid'), 'not-a-uuid');
});
