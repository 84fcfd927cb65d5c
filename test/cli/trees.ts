/** The shared fixture trees of the CLI tests. */
import { definitionText, FakeTree } from './fake-tree.js';
import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';

export const U1 = '11111111-1111-4111-8111-111111111111';
export const U2 = '22222222-2222-4222-8222-222222222222';
export const U3 = '33333333-3333-4333-8333-333333333333';
export const U4 = '44444444-4444-4444-8444-444444444444';
export const U5 = '55555555-5555-4555-8555-555555555555';
export const U9 = '99999999-9999-4999-8999-999999999999';
export const GVT = '0000:00:02.0';

/**
 * Two parents (an mtty with two types, a GVT-g-like PCI parent with none available), three active devices (U1
 * defined with attributes, U2 undefined, U3 defined), two defined-only devices (U4 on mtty, U5 on a parent that is
 * not present), and one stray file in each listing (`junk`, `notauuid`) that mdevctl warns about.
 */
export async function richTree(): Promise<FakeTree> {
  const t = await FakeTree.create();
  await t.addParent('mtty', [
    { name: 'mtty-1', available: '22', prettyName: 'Single port serial' },
    { name: 'mtty-2', available: '11', prettyName: 'Dual port serial', description: 'Two ports\nfrom a shared pool' },
  ]);
  await t.addParent(GVT, [{ name: 'i915-GVTg_V5_4', available: '0', prettyName: 'GVTg_V5_4', description: 'low_gm_size: 128MB\nhigh_gm_size: 512MB' }], 'pci0000:00');
  await t.addActive(U1, 'mtty', 'mtty-1', ['vendor/knob', 'echo']);
  await t.addActive(U2, 'mtty', 'mtty-2');
  await t.addActive(U3, GVT, 'i915-GVTg_V5_4', [], 'pci0000:00');
  await t.addDefinition('mtty', U1, definitionText('mtty-1', 'auto', [['vendor/knob', '42'], ['echo', 'on']]));
  await t.addDefinition(GVT, U3, definitionText('i915-GVTg_V5_4', 'manual'));
  await t.addDefinition('mtty', U4, definitionText('mtty-2', 'manual', [['nosuch', '1']]));
  await t.addDefinition('other', U5, definitionText('other-1', 'auto'));
  await writeFile(join(t.etc, 'mtty', 'junk'), 'not a definition');
  await mkdir(join(t.sys, 'bus/mdev/devices/notauuid'));
  return t;
}
