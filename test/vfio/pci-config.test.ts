import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PCI_CAP_ID, PCI_CFG, PCI_STATUS } from '../../src/vfio/constants.js';
import {
  PciConfigSpace,
  msiCapability,
  msixCapability,
  pcieCapability,
  pmCapability,
  vendorCapability,
} from '../../src/vfio/pci-config.js';
import { UmdevError } from '../../src/errors.js';

const identity = { vendorId: 0x1af4, deviceId: 0x1041, classCode: 0x020000, revision: 1, subsystemVendorId: 0x1af4, subsystemId: 0x1100 };
const le32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};

function expectErrno(fn: () => unknown, errno: string): void {
  assert.throws(fn, (e: unknown) => e instanceof UmdevError && e.errno === errno);
}

test('identity fields land at their standard offsets', () => {
  const c = new PciConfigSpace({ identity, interruptPin: 1 });
  assert.equal(c.word(PCI_CFG.VENDOR_ID), 0x1af4);
  assert.equal(c.word(PCI_CFG.DEVICE_ID), 0x1041);
  assert.equal(c.byte(PCI_CFG.REVISION_ID), 1);
  assert.deepEqual([...c.read(PCI_CFG.CLASS_PROG, 3)], [0x00, 0x00, 0x02]);
  assert.equal(c.word(PCI_CFG.SUBSYSTEM_ID), 0x1100);
  assert.equal(c.byte(PCI_CFG.INTERRUPT_PIN), 1);
  assert.equal(c.size, 256);
});

test('identity, class and pin are read-only; interrupt line is writable', () => {
  const c = new PciConfigSpace({ identity, interruptPin: 1 });
  c.write(0, le32(0xffffffff));
  c.write(0x08, le32(0xffffffff));
  c.write(PCI_CFG.INTERRUPT_LINE, Buffer.from([0x0a, 0x04]));
  assert.equal(c.dword(0), 0x10411af4);
  assert.equal(c.dword(0x08), 0x02000001);
  assert.equal(c.byte(PCI_CFG.INTERRUPT_LINE), 0x0a);
  assert.equal(c.byte(PCI_CFG.INTERRUPT_PIN), 1);
});

test('I/O BAR sizing: all-ones reads back the size mask with bit 0 set', () => {
  const c = new PciConfigSpace({ identity, bars: [{ kind: 'io', size: 8 }] });
  assert.equal(c.dword(0x10), 0x1);
  c.write(0x10, le32(0xffffffff));
  assert.equal(c.dword(0x10), 0xfffffff9);
  c.write(0x10, le32(0xc150));
  assert.equal(c.dword(0x10), 0xc151);
  // The I/O space enable bit becomes writable because an I/O BAR exists; memory space does not.
  c.write(PCI_CFG.COMMAND, Buffer.from([0xff, 0xff]));
  assert.equal(c.word(PCI_CFG.COMMAND) & 0x3, 0x1);
});

test('32-bit prefetchable and 64-bit memory BARs size with their type bits; unimplemented BARs read 0', () => {
  const c = new PciConfigSpace({
    identity,
    bars: [{ kind: 'mem32', size: 0x1000, prefetchable: true }, { kind: 'mem64', size: 0x2_0000_0000n }, undefined, undefined, { kind: 'io', size: 256 }],
  });
  for (let i = 0; i < 6; i++) c.write(0x10 + 4 * i, le32(0xffffffff));
  assert.equal(c.dword(0x10), 0xfffff008);
  assert.equal(c.dword(0x14), 0x00000004, 'low dword of an 8 GiB BAR: all address bits are size bits');
  assert.equal(c.dword(0x18), 0xfffffffe, 'high dword carries the rest of the size mask');
  assert.equal(c.dword(0x1c), 0);
  assert.equal(c.dword(0x20), 0xffffff01);
  assert.equal(c.dword(0x24), 0);
  c.write(0x14, le32(0x0));
  c.write(0x18, le32(0x4));
  assert.equal(c.dword(0x18), 0x4);
  assert.equal(c.dword(0x14), 0x4);
});

test('ROM BAR sizing keeps the enable bit writable', () => {
  const c = new PciConfigSpace({ identity, romSize: 0x8000 });
  c.write(PCI_CFG.ROM_ADDRESS, le32(0xffffffff));
  assert.equal(c.dword(PCI_CFG.ROM_ADDRESS), 0xffff8001);
});

test('status error bits are write-1-to-clear; other status bits are read-only', () => {
  const c = new PciConfigSpace({ identity, status: 0x0200 });
  c.setWord(PCI_CFG.STATUS, 0x0200 | PCI_STATUS.REC_MASTER_ABORT | PCI_STATUS.SIG_SYSTEM_ERROR);
  c.write(PCI_CFG.STATUS, Buffer.from([0x00, 0x20]));
  assert.equal(c.word(PCI_CFG.STATUS), 0x0200 | PCI_STATUS.SIG_SYSTEM_ERROR);
  c.write(PCI_CFG.STATUS, Buffer.from([0xff, 0xff]));
  assert.equal(c.word(PCI_CFG.STATUS), 0x0200);
});

test('the capability builder links PM, MSI, MSI-X, PCIe and vendor capabilities and sets CAP_LIST', () => {
  const c = new PciConfigSpace({
    identity,
    bars: [{ kind: 'mem32', size: 0x4000 }],
    capabilities: [
      pmCapability(),
      msiCapability({ vectors: 4, address64: true }),
      msixCapability({ tableSize: 8, tableBar: 0, tableOffset: 0x2000, pbaBar: 0, pbaOffset: 0x3000 }),
      pcieCapability(),
      vendorCapability(Buffer.from('umdev')),
    ],
  });
  assert.ok(c.word(PCI_CFG.STATUS) & PCI_STATUS.CAP_LIST);
  const seen: number[] = [];
  let at = c.byte(PCI_CFG.CAPABILITY_LIST);
  while (at !== 0) {
    assert.equal(at % 4, 0, 'capabilities are dword aligned');
    assert.ok(at >= 0x40);
    seen.push(c.byte(at));
    at = c.byte(at + 1);
  }
  assert.deepEqual(seen, [PCI_CAP_ID.PM, PCI_CAP_ID.MSI, PCI_CAP_ID.MSIX, PCI_CAP_ID.EXP, PCI_CAP_ID.VNDR]);
  const msi = c.capabilityOffset(PCI_CAP_ID.MSI)!;
  assert.equal(c.word(msi + 2), 0x0084, '64-bit, 4 vectors capable');
  c.write(msi + 2, Buffer.from([0xff, 0xff]));
  assert.equal(c.word(msi + 2), 0x00f5, 'enable + MME writable, capability bits fixed');
  const msix = c.capabilityOffset(PCI_CAP_ID.MSIX)!;
  assert.equal(c.word(msix + 2), 7);
  assert.equal(c.dword(msix + 4), 0x2000);
  assert.equal(c.dword(msix + 8), 0x3000);
  c.write(msix + 2, Buffer.from([0xff, 0xff]));
  assert.equal(c.word(msix + 2), 0xc007);
  const vndr = c.capabilityOffset(PCI_CAP_ID.VNDR)!;
  assert.equal(c.byte(vndr + 2), 8);
  assert.equal(c.read(vndr + 3, 5).toString(), 'umdev');
  const pm = c.capabilityOffset(PCI_CAP_ID.PM)!;
  c.write(pm + 4, Buffer.from([0x03]));
  assert.equal(c.byte(pm + 4), 0x03, 'PMCSR power state writable');
});

test('vendor ranges see only their own bytes, range-relative', () => {
  const store = new Uint8Array(8);
  const calls: string[] = [];
  const c = new PciConfigSpace({
    identity,
    capabilities: [pmCapability()],
    vendorRanges: [
      {
        offset: 0x80,
        length: 8,
        read: (off, len) => {
          calls.push(`r${off}+${len}`);
          return store.subarray(off, off + len);
        },
        write: (off, data) => {
          calls.push(`w${off}+${data.length}`);
          store.set(data, off);
        },
      },
    ],
  });
  c.write(0x7e, Buffer.from([1, 2, 3, 4]));
  assert.deepEqual(calls, ['w0+2']);
  assert.deepEqual([...store.subarray(0, 2)], [3, 4]);
  assert.equal(c.byte(0x7e), 0, 'standard bytes around the range are not the vendor\'s');
  assert.deepEqual([...c.read(0x86, 4)], [0, 0, 0, 0]);
  assert.deepEqual(calls, ['w0+2', 'r6+2']);
  expectErrno(() => new PciConfigSpace({ identity, vendorRanges: [{ offset: 0x40, length: 4, read: () => new Uint8Array(4), write: () => undefined }], capabilities: [pmCapability()] }), 'EINVAL');
});

test('config space is 256 or 4096 bytes: the dword at 0xfc reads, accesses past the end are EINVAL', () => {
  for (const size of [0xff, 0x44, 0x200, 0x1001]) expectErrno(() => new PciConfigSpace({ identity, size }), 'EINVAL');
  const c = new PciConfigSpace({ identity });
  assert.equal(c.size, 256);
  assert.equal(c.read(0xfc, 4).length, 4);
  expectErrno(() => c.read(0xfd, 4), 'EINVAL');
  expectErrno(() => c.write(0x100, Buffer.from([0])), 'EINVAL');
  expectErrno(() => c.read(-1, 1), 'EINVAL');
  assert.equal(new PciConfigSpace({ identity, size: 0x1000 }).read(0xffc, 4).length, 4);
});

test('bad specs are refused', () => {
  expectErrno(() => new PciConfigSpace({ identity, bars: [{ kind: 'io', size: 12 }] }), 'EINVAL');
  expectErrno(() => new PciConfigSpace({ identity, bars: [undefined, undefined, undefined, undefined, undefined, { kind: 'mem64', size: 4096n }] }), 'EINVAL');
  const big = vendorCapability(new Uint8Array(200));
  expectErrno(() => new PciConfigSpace({ identity, capabilities: [big, big] }), 'EINVAL');
  expectErrno(() => msiCapability({ vectors: 3 }), 'EINVAL');
});
