import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Core } from '../../src/core/core.js';
import { err } from '../../src/errors.js';
import { expectErrno, randomUUID, spec } from './helpers.js';

test('storeAttribute writes a vendor attribute through the core, with the errnos sysfs gives', async () => {
  const core = new Core();
  const stored: string[] = [];
  core.registerParent(
    spec('p', {
      deviceAttributes: [
        { attrs: [{ name: 'top', mode: 0o200, store: (_d, _s, v) => void stored.push(`top=${v}`) }] },
        {
          name: 'vendor',
          attrs: [
            { name: 'knob', mode: 0o644, show: () => '0\n', store: (_d, _s, v) => {
              if (!/^\d+$/.test(v)) throw err('EINVAL', 'digits only');
              stored.push(`knob=${v}`);
            } },
            { name: 'ro', mode: 0o444, show: () => '1\n' },
          ],
        },
      ],
    }),
  );
  const u = randomUUID();
  await core.create('p', 'test-1', u);
  await core.storeAttribute(u, 'vendor/knob', '42');
  await core.storeAttribute(u.toUpperCase(), 'top', 'x');
  assert.deepEqual(stored, ['knob=42', 'top=x']);
  await expectErrno(core.storeAttribute(u, 'vendor/knob', 'x'), 'EINVAL');
  await expectErrno(core.storeAttribute(u, 'vendor/ro', '1'), 'EACCES');
  await expectErrno(core.storeAttribute(u, 'vendor/nosuch', '1'), 'ENOENT');
  await expectErrno(core.storeAttribute(u, 'knob', '1'), 'ENOENT', /no vendor attribute knob/);
  await expectErrno(core.storeAttribute(randomUUID(), 'vendor/knob', '1'), 'ENODEV');
});
