/**
 * End-to-end: every bad value written through the real FUSE mount, by a real `write(2)` from a shell, to every
 * writable file of both layouts fails and leaves the mounted tree byte-for-byte as it was (names, link targets,
 * modes and every readable value).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Core } from '../../src/core/core.js';
import { createMttyParent } from '../../src/drivers/mtty/index.js';
import type { SysfsLayout } from '../../src/sysfs/index.js';
import { busDriver, toy } from '../sysfs/fixtures.js';
import { mountSysfs, shell, type Mounted } from './harness.js';

/** Every entry below the mount (not following links), with its mode, its link target or its value when readable. */
const SNAPSHOT = `cd "$MNT" && find . | LC_ALL=C sort | while read -r p; do
  if [ -L "$p" ]; then echo "$p -> $(readlink "$p")";
  elif [ -d "$p" ]; then echo "$p/";
  else printf '%s %s ' "$p" "$(stat -c %a "$p")"; if [ -r "$p" ] && [ "$(stat -c %a "$p")" != 200 ]; then cat "$p" | od -An -c | tr -s ' ' | tr -d '\\n'; fi; echo; fi
done`;

/** Writable files (mode with an owner write bit), one per line. */
const WRITABLE = `cd "$MNT" && find . -type f -perm -u=w | LC_ALL=C sort`;

/** Values no writable file accepts (an empty write never reaches a store, as in sysfs; kstrtobool reads only the first
 * characters, so none starts with 0/1/y/n/o): junk, a bad number, a half UUID, a v6 spec with a bad UUID, an overlong line. */
const BAD = ['x', 'garbage\\n', '-1', '2x', 'qb5ab5c0-7a4d', 'zzzzzzzz-7a4d-4cfe-9d0b-2f1e3d4c5b6a:0', 'q'.repeat(300)];

async function snapshot(m: Mounted): Promise<string> {
  const r = await shell(m, SNAPSHOT);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

for (const layout of ['mainline', 'v6'] as const satisfies readonly SysfsLayout[]) {
  test(`${layout}: every bad value to every writable file over the mount fails and changes nothing`, async (t) => {
    const core = new Core();
    await core.registerDriver(busDriver());
    core.registerParent(createMttyParent());
    core.registerParent(toy());
    await core.create('mtty', 'mtty-2', '0b5ab5c0-7a4d-4cfe-9d0b-2f1e3d4c5b6a', layout === 'v6' ? { instance: 0 } : {});
    await core.create('0000:00:02.0', 'toy-a', 'c0ffee00-1234-4abc-8def-0123456789ab', layout === 'v6' ? { instance: 1 } : {});
    const m = await mountSysfs(t, core, layout);

    const before = await snapshot(m);
    const files = (await shell(m, WRITABLE)).stdout.trim().split('\n').filter((f) => f !== '');
    assert.ok(files.length >= 6, `writable files found:\n${files.join('\n')}`);
    for (const file of files) {
      for (const bad of BAD) {
        // /usr/bin/printf reports the write's own errno (dash's builtins say "I/O error" for every failure).
        const r = await shell(m, `/usr/bin/printf '${bad}' > "$MNT/${file}"`);
        assert.notEqual(r.code, 0, `${file} accepted ${JSON.stringify(bad)}`);
        // power/autosuspend_delay_ms answers EIO to every write, as the kernel's does without runtime PM.
        const errno = file.endsWith('/autosuspend_delay_ms') ? /Input\/output error/ : /Invalid argument|No such device|Numerical result/;
        assert.match(r.stderr, errno, `${file} ← ${JSON.stringify(bad)}: ${r.stderr}`);
      }
    }
    assert.equal(await snapshot(m), before, 'the mounted tree is unchanged');
  });
}
