/**
 * `power/`, the driver core's runtime-PM group, as the kernel shows it for a device whose driver has no PM callbacks
 * (mtty's parent, its mdevs and their `vfio-dev/vfioN`): runtime PM disabled, status `unsupported`, nothing counted.
 * umdev has no power management, so the values are fixed; `control` and `async` accept only the value they show
 * (the kernel's other word would change a state umdev does not have: `EINVAL`), and `autosuspend_delay_ms` answers
 * `EIO` both ways, as `autosuspend_delay_ms_show`/`_store` do without `use_autosuspend`.
 */
import { err } from '../errors.js';
import { type Child, type LookupDir, dir, fileChild, roFile, rwFile } from './nodes.js';

/** A 0644 file that shows `value` and accepts only it again (one trailing newline optional). */
function fixedRw(name: string, value: string): Child {
  return fileChild(name, () =>
    rwFile(
      () => `${value}\n`,
      (data) => {
        if (data.toString('latin1').replace(/\n$/, '') !== value) throw err('EINVAL', `power/${name}: umdev has no power management, only "${value}" is accepted`);
      },
    ),
  );
}

/** A new `power/` directory; stateless, so one per lookup is fine. */
export function powerDir(): LookupDir {
  const eio = (): never => {
    throw err('EIO', 'power/autosuspend_delay_ms: autosuspend is not used');
  };
  return dir([
    fixedRw('async', 'disabled'),
    fileChild('autosuspend_delay_ms', () => rwFile(eio, eio)),
    fixedRw('control', 'auto'),
    fileChild('runtime_active_kids', () => roFile(() => '0\n')),
    fileChild('runtime_active_time', () => roFile(() => '0\n')),
    fileChild('runtime_enabled', () => roFile(() => 'disabled\n')),
    fileChild('runtime_status', () => roFile(() => 'unsupported\n')),
    fileChild('runtime_suspended_time', () => roFile(() => '0\n')),
    fileChild('runtime_usage', () => roFile(() => '0\n')),
  ]);
}
