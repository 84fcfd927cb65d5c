import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kstrtobool, kstrtoul, parseCreate, parseRemove, parseReset, parseUevent, parseUuid } from '../../src/sysfs/parse.js';
import { parseSeedCreate, parseSeedDestroy, parseSeedUuid } from '../../src/sysfs/seed-v6.js';
import { isUmdevError } from '../../src/errors.js';

const U = '3f2a5b7c-1d2e-4f60-8a9b-0c1d2e3f4a5b';

function errnoOf(f: () => unknown): string | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    return isUmdevError(e) ? e.errno : `non-umdev ${String(e)}`;
  }
}

test('kstrtoul base 0 accepts what the kernel accepts', () => {
  const ok: [string, bigint][] = [
    ['1', 1n],
    ['1\n', 1n],
    ['0x1', 1n],
    ['0X1f', 31n],
    ['010', 8n],
    ['0', 0n],
    ['+5', 5n],
    ['18446744073709551615', 0xffff_ffff_ffff_ffffn],
  ];
  for (const [s, v] of ok) assert.deepEqual(kstrtoul(s), { value: v }, JSON.stringify(s));
  for (const s of ['', '\n', 'x', '-1', ' 1', '1 ', '1\n\n', '0x', '08', '1a', '0xg', '++1']) {
    assert.deepEqual(kstrtoul(s), { errno: 'EINVAL' }, JSON.stringify(s));
  }
  assert.deepEqual(kstrtoul('18446744073709551616'), { errno: 'ERANGE' });
  assert.deepEqual(kstrtoul('4294967296', 0xffff_ffffn), { errno: 'ERANGE' });
});

test('kstrtobool looks at the first character (and the second after o)', () => {
  for (const s of ['1', 'y', 'Y', 't', 'T', 'on', 'ON', 'yes', '1\n', '1abc']) assert.equal(kstrtobool(s), true, s);
  for (const s of ['0', 'n', 'N', 'f', 'F', 'off', 'OFF', 'no', '0\n']) assert.equal(kstrtobool(s), false, s);
  for (const s of ['', '\n', '2', 'x', 'o', 'ox', '-1', ' 1']) assert.equal(kstrtobool(s), undefined, JSON.stringify(s));
});

test('parseUuid is guid_parse: any case in, lower case out', () => {
  assert.equal(parseUuid(U), U);
  assert.equal(parseUuid(U.toUpperCase()), U);
  for (const s of ['', U.slice(1), `${U}0`, U.replace(/-/g, 'x'), `g${U.slice(1)}`, U.replace('-', '')]) {
    assert.equal(parseUuid(s), undefined, s);
  }
});

test('create: 36 or 37 bytes, the 37th not looked at', () => {
  assert.equal(parseCreate(Buffer.from(U)), U);
  assert.equal(parseCreate(Buffer.from(`${U}\n`)), U);
  assert.equal(parseCreate(Buffer.from(`${U}x`)), U);
  assert.equal(parseCreate(Buffer.from(U.toUpperCase())), U);
  for (const s of ['', U.slice(1), `${U}\n\n`, `${U.slice(0, 35)}z`, ' '.repeat(36)]) {
    assert.equal(errnoOf(() => parseCreate(Buffer.from(s))), 'EINVAL', JSON.stringify(s));
  }
  // A multi-byte character makes 36 characters 37+ bytes: the kernel counts bytes.
  assert.equal(errnoOf(() => parseCreate(Buffer.from(`${U.slice(0, 35)}é`))), 'EINVAL');
});

test('remove, reset and uevent parsing', () => {
  assert.equal(parseRemove(Buffer.from('1')), true);
  assert.equal(parseRemove(Buffer.from('0x1')), true);
  assert.equal(parseRemove(Buffer.from('1\n')), true);
  assert.equal(parseRemove(Buffer.from('0')), false);
  for (const s of ['', 'yes', '-1', '99999999999999999999999']) assert.equal(errnoOf(() => parseRemove(Buffer.from(s))), 'EINVAL', s);
  assert.equal(errnoOf(() => parseReset(Buffer.from('1\n'))), undefined);
  for (const s of ['0', '2', 'x', '']) assert.equal(errnoOf(() => parseReset(Buffer.from(s))), 'EINVAL', s);
  for (const s of ['add', 'change\n', 'change 1234 A=1', 'remove']) assert.equal(errnoOf(() => parseUevent(Buffer.from(s))), undefined, s);
  for (const s of ['', 'bogus', ' add']) assert.equal(errnoOf(() => parseUevent(Buffer.from(s))), 'EINVAL', s);
});

test('seed mdev_create: UUID:instance[:params]', () => {
  assert.deepEqual(parseSeedCreate(Buffer.from(`${U}:0`)), { uuid: U, instance: 0, params: undefined });
  assert.deepEqual(parseSeedCreate(Buffer.from(`${U.toUpperCase()}:0x10\n`)), { uuid: U, instance: 16, params: undefined });
  assert.deepEqual(parseSeedCreate(Buffer.from(`${U}:1:toy-b,x=1:y\n`)), { uuid: U, instance: 1, params: 'toy-b,x=1:y' });
  assert.deepEqual(parseSeedCreate(Buffer.from(`${U}:2:`)), { uuid: U, instance: 2, params: '' });
  const bad: [string, string][] = [
    [U, 'EINVAL'],
    [`${U}:`, 'EINVAL'],
    [`${U}:x`, 'EINVAL'],
    [`${U}:-1`, 'EINVAL'],
    [`${U}:4294967296`, 'ERANGE'],
    [`${U.slice(1)}:0`, 'EINVAL'],
    [`${U}0:0`, 'EINVAL'],
    ['', 'EINVAL'],
  ];
  for (const [s, e] of bad) assert.equal(errnoOf(() => parseSeedCreate(Buffer.from(s))), e, s);
});

test('seed mdev_destroy, mdev_start and mdev_stop parsing', () => {
  assert.deepEqual(parseSeedDestroy(Buffer.from(`${U}:3\n`)), { uuid: U, instance: 3 });
  for (const s of [U, `${U}:`, `${U}:0:x`, `bad:0`]) assert.equal(errnoOf(() => parseSeedDestroy(Buffer.from(s))), 'EINVAL', s);
  assert.equal(parseSeedUuid('mdev_start', Buffer.from(`${U}\n`)), U);
  assert.equal(parseSeedUuid('mdev_start', Buffer.from(U.toUpperCase())), U);
  for (const s of ['', `${U}x`, `${U}\n\n`, `${U}:0`]) assert.equal(errnoOf(() => parseSeedUuid('mdev_start', Buffer.from(s))), 'EINVAL', s);
});
