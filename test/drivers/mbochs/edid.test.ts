import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EDID_BLOCK, buildEdid, cvtReducedBlanking } from '../../../src/drivers/mbochs/edid.js';
import { MBOCHS_TYPES } from '../../../src/drivers/mbochs/spec.js';

/** The preferred (first detailed) timing, decoded as Linux's drm_edid does, independent of the builder. */
function preferred(b: Buffer): { clockKHz: number; w: number; h: number; hblank: number; vblank: number; hfront: number; hsync: number; vfront: number; vsync: number } {
  const d = b.subarray(54, 72);
  return {
    clockKHz: d.readUInt16LE(0) * 10,
    w: d[2]! | ((d[4]! & 0xf0) << 4),
    hblank: d[3]! | ((d[4]! & 0x0f) << 8),
    h: d[5]! | ((d[7]! & 0xf0) << 4),
    vblank: d[6]! | ((d[7]! & 0x0f) << 8),
    hfront: d[8]! | ((d[11]! & 0xc0) << 2),
    hsync: d[9]! | ((d[11]! & 0x30) << 4),
    vfront: (d[10]! >> 4) | ((d[11]! & 0x0c) << 2),
    vsync: (d[10]! & 0x0f) | ((d[11]! & 0x03) << 4),
  };
}

test('a valid EDID 1.4 base block: header, version, checksum, no extensions', () => {
  for (const t of MBOCHS_TYPES.filter((x) => x.maxX > 0)) {
    const b = buildEdid(t.maxX, t.maxY);
    assert.equal(b.length, EDID_BLOCK);
    assert.deepEqual([...b.subarray(0, 8)], [0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0]);
    assert.deepEqual([b[18], b[19]], [1, 4], 'EDID 1.4');
    assert.equal(b.reduce((s, v) => s + v, 0) % 256, 0, 'bytes sum to 0 mod 256');
    assert.equal(b[126], 0);
    assert.ok(b[20]! & 0x80, 'digital input');
    assert.ok(b[24]! & 0x02, 'the preferred timing is the native mode');
    // Descriptors 2–4 are display descriptors (zero pixel clock) with the tags range limits, name and dummy.
    assert.deepEqual([b[72 + 3], b[90 + 3], b[108 + 3]], [0xfd, 0xfc, 0x10]);
    assert.equal(b.subarray(95, 108).toString('latin1').split('\n')[0], 'umdev mbochs');
  }
});

test("the preferred timing is the type's maximum resolution at 60 Hz, CVT reduced blanking", () => {
  const small = preferred(buildEdid(800, 600));
  assert.deepEqual({ ...small }, { clockKHz: 35500, w: 800, h: 600, hblank: 160, vblank: 18, hfront: 48, hsync: 32, vfront: 3, vsync: 4 });
  const medium = preferred(buildEdid(1920, 1440));
  assert.equal(medium.w, 1920);
  assert.equal(medium.h, 1440);
  // 60 Hz within CVT's 0.25 MHz clock step.
  const hz = (medium.clockKHz * 1000) / ((medium.w + medium.hblank) * (medium.h + medium.vblank));
  assert.ok(Math.abs(hz - 60) < 0.1, `${hz} Hz`);
  assert.equal(cvtReducedBlanking(1920, 1080).vSync, 5, '16:9 has a 5-line sync');
});

test('range limits cover the preferred mode; established modes stop at the maximum', () => {
  const b = buildEdid(800, 600);
  const r = b.subarray(72, 90);
  assert.ok(r[9]! * 10_000 >= preferred(b).clockKHz, 'max pixel clock covers the preferred mode');
  assert.equal(b[35], 0x21, '640x480 and 800x600 at 60 Hz');
  assert.equal(b[36], 0, 'no 1024x768');
  assert.equal(buildEdid(1920, 1440)[36], 0x08, '1024x768 fits 1920x1440');
});

test('modes EDID cannot hold are refused', () => {
  assert.throws(() => buildEdid(0, 0), /EDID cannot describe/);
  assert.throws(() => buildEdid(8192, 600), /EDID cannot describe/);
});
