import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BusyPoll } from '../../src/native/busy-poll.js';
import { errnoOf } from './helpers.js';

/** A BusyPoll on a clock the test moves (ms). */
function clocked(maxNs: number) {
  let now = 1000;
  const poll = new BusyPoll(maxNs, () => now);
  return { poll, advanceUs: (us: number) => (now += us / 1000) };
}

test('the window opens at 10 us and doubles up to the ceiling while the peer comes back within it', () => {
  const { poll, advanceUs } = clocked(100_000);
  poll.woke();
  assert.equal(poll.spinNs(), 0, 'closed until a gap has been seen');
  const seen: number[] = [];
  for (let i = 0; i < 6; i++) {
    // The spin (the whole window) found nothing, and the peer came 5 us after it.
    poll.idle();
    advanceUs(5);
    poll.woke();
    seen.push(poll.windowNs);
  }
  // At the ceiling a failed spin plus any gap is longer than the ceiling: the window was wasted, so it halves.
  assert.deepEqual(seen, [10_000, 20_000, 40_000, 80_000, 100_000, 50_000]);
});

test('a peer slower than the ceiling halves the window down to closed; a fresh wake-up alone changes nothing', () => {
  const { poll, advanceUs } = clocked(50_000);
  poll.woke();
  for (let i = 0; i < 4; i++) {
    poll.idle();
    poll.woke();
  }
  assert.equal(poll.windowNs, 50_000);
  const seen: number[] = [];
  for (let i = 0; i < 4; i++) {
    poll.idle();
    advanceUs(1000);
    poll.woke();
    seen.push(poll.windowNs);
  }
  assert.deepEqual(seen, [25_000, 12_500, 0, 0]);
  poll.woke();
  assert.equal(poll.windowNs, 0, 'woke() without idle() in between has no gap to learn from');
});

test('one wake-up spins for at most 2 ms of back-to-back requests, then leaves the rest to the loop', () => {
  const { poll, advanceUs } = clocked(50_000);
  poll.woke();
  // 100 us of handling earns 15 us of spinning.
  advanceUs(100);
  poll.idle();
  poll.woke();
  assert.equal(poll.spinNs(), 10_000);
  advanceUs(2001);
  assert.equal(poll.spinNs(), 0);
  poll.idle();
  poll.woke();
  assert.ok(poll.spinNs() > 0, 'a new wake-up has a new budget');
});

test('spinning is paid from a credit of 0.15 of the handling time: no spin before any work, none once it is spent', () => {
  const { poll, advanceUs } = clocked(50_000);
  poll.woke();
  poll.idle();
  poll.woke();
  assert.equal(poll.windowNs, 10_000, 'the window is open');
  assert.equal(poll.spinNs(), 0, 'but nothing was handled yet: no credit');
  advanceUs(40);
  poll.idle();
  assert.equal(Math.round(poll.creditNs), 6_000);
  poll.woke();
  const spin = poll.spinNs();
  assert.ok(Math.abs(spin - 6_000) <= 1, `the spin is cut to the credit (${spin} ns)`);
  poll.spun(spin);
  assert.equal(poll.spinNs(), 0, 'spent');
});

test('a peer that always comes just after the window: what is spun stays within 0.15 of what is handled, plus one window', () => {
  const { poll, advanceUs } = clocked(50_000);
  let handledUs = 0;
  let spunUs = 0;
  poll.woke();
  for (let i = 0; i < 10_000; i++) {
    // Handle one request (12 us), spin what is allowed and find nothing, go idle; the request comes 5 us later.
    advanceUs(12);
    handledUs += 12;
    const spin = poll.spinNs();
    advanceUs(spin / 1000);
    poll.spun(spin);
    spunUs += spin / 1000;
    poll.idle();
    advanceUs(5);
    poll.woke();
  }
  assert.ok(spunUs > 0, 'it does spin');
  assert.ok(spunUs <= handledUs * 0.15 + 50, `spun ${spunUs} us for ${handledUs} us handled`);
});

test('a window outside (0, 1 ms] is EINVAL', () => {
  for (const bad of [0, -1, 1.5, 1_000_001, Number.NaN]) {
    assert.equal(errnoOf(() => new BusyPoll(bad)), 'EINVAL', String(bad));
  }
});
