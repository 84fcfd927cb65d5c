/** The root's screen cache: one request to the device side per device and window, however many viewers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScreenFrames } from '../../src/daemon/live/screen-frames.js';
import type { FrameOptions, ScreenFrame } from '../../src/daemon/live/types.js';
import { err } from '../../src/errors.js';
import { modelFrame, planeTag } from '../../src/daemon/live/model-frame.js';
import type { DisplayPlane } from '../../src/display/plane.js';
import { decodePng } from '../../src/display/png.js';

function source(): { calls: FrameOptions[]; tag: string; fail: boolean; fn: (uuid: string, o: FrameOptions) => Promise<ScreenFrame> } {
  const s = {
    calls: [] as FrameOptions[],
    tag: 't1',
    fail: false,
    fn: async (_uuid: string, o: FrameOptions): Promise<ScreenFrame> => {
      s.calls.push(o);
      await new Promise((r) => setTimeout(r, 5));
      if (s.fail) throw err('EBUSY', 'display off');
      return o.ifNoneMatch === s.tag ? { unchanged: true, etag: s.tag } : { png: Buffer.from(s.tag), etag: s.tag };
    },
  };
  return s;
}

test('ten viewers at once cost one request; within the fresh window none; an unchanged frame is only a tag', async () => {
  let now = 0;
  const s = source();
  const f = new ScreenFrames(s.fn, { freshMs: 100, now: () => now });
  const all = await Promise.all(Array.from({ length: 10 }, () => f.get('u')));
  assert.equal(s.calls.length, 1);
  assert.ok(all.every((x) => 'png' in x && x.etag === 't1'));
  assert.deepEqual(await f.get('u', 't1'), { unchanged: true, etag: 't1' });
  assert.equal(s.calls.length, 1, 'served from the cache inside the window');
  now = 150;
  assert.deepEqual(await f.get('u', 't1'), { unchanged: true, etag: 't1' });
  assert.deepEqual(s.calls[1], { ifNoneMatch: 't1' }, 'the cache asks with the tag it holds');
  assert.equal(f.encoded, 1, 'the unchanged frame was not encoded again');
  now = 300;
  s.tag = 't2';
  const changed = await f.get('u', 't1');
  assert.ok('png' in changed && changed.etag === 't2');
  now = 450;
  s.fail = true;
  await assert.rejects(f.get('u'), /display off/);
  s.fail = false;
  now = 460;
  assert.ok('png' in (await f.get('u')), 'after a failure the next viewer gets a whole frame, not a stale one');
  now = 100_000;
  await f.get('v');
  assert.equal(f.size, 1, 'the idle device was dropped');
});

test('a plane\'s tag follows its pixels, format, size and stride; the frame is its PNG', async () => {
  const pixels = new Uint8Array(4 * 4 * 2);
  pixels.set([1, 2, 3, 0], 0);
  const p: DisplayPlane = { format: 'xrgb8888', width: 4, height: 2, stride: 16, pixels };
  const tag = planeTag(p);
  assert.equal(planeTag({ ...p }), tag);
  assert.notEqual(planeTag({ ...p, width: 3 }), tag);
  pixels[5] = 9;
  assert.notEqual(planeTag(p), tag);
  const model = { queryPlane: () => p };
  const f = await modelFrame(model);
  assert.ok('png' in f);
  const img = decodePng(f.png);
  assert.deepEqual([...img.rgb.subarray(0, 3)], [3, 2, 1]);
  assert.deepEqual(await modelFrame(model, { ifNoneMatch: f.etag }), { unchanged: true, etag: f.etag });
  await assert.rejects(modelFrame({}), /no display/);
});
