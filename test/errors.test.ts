import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERRNO, STRERROR, UmdevError, errnoName, httpStatus, toUmdevError, exitCode } from '../src/errors.js';
import { constants } from 'node:os';

test('errno numbers match the host kernel', () => {
  for (const [name, value] of Object.entries(ERRNO)) {
    // Node's table lacks a few (EUSERS); those are checked against asm-generic/errno.h by hand.
    const host = (constants.errno as Record<string, number>)[name] ?? { EUSERS: 87 }[name];
    assert.equal(value, host, `${name}`);
  }
});

test('every errno has a strerror text and round-trips by number', () => {
  for (const name of Object.keys(ERRNO) as (keyof typeof ERRNO)[]) {
    assert.ok(STRERROR[name].length > 0);
    assert.equal(errnoName(ERRNO[name]), name);
  }
  assert.equal(errnoName(99999), 'EIO');
});

test('boundary mappings', () => {
  const e = new UmdevError('EEXIST', 'dup');
  assert.equal(e.code, 17);
  assert.equal(httpStatus('EEXIST'), 409);
  assert.equal(httpStatus('EINVAL'), 400);
  assert.equal(httpStatus('EIO'), 500);
  assert.equal(exitCode('EINVAL'), 1);
});

test('toUmdevError keeps errnos and turns bugs into EIO', () => {
  const sys = Object.assign(new Error('denied'), { code: 'EACCES' });
  assert.equal(toUmdevError(sys).errno, 'EACCES');
  const bug = toUmdevError(new TypeError('x is undefined'));
  assert.equal(bug.errno, 'EIO');
  assert.ok(bug.cause instanceof TypeError);
  const same = new UmdevError('ENODEV', 'gone');
  assert.equal(toUmdevError(same), same);
});
