/**
 * A test-only vendor driver whose device runs what its client tells it to, as a device model with a code execution
 * bug would: the attacker's view from inside a device host. BAR0 is a 4 KiB register file: the client writes a
 * command (UTF-8 JSON `[verb, ...args]`) at 0, then any value at `GO`; the write returns once the command has run,
 * and `RESULT` holds its answer (UTF-8 JSON, NUL-padded). Built only into the tests (dist/test), never into umdevd.
 *
 * Its migration is a 4-byte snapshot whose parser says, when it refuses a stream, which uid it ran as.
 */
import { spawnSync } from 'node:child_process';
import { openSync, readFileSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { native } from '../../../src/native/index.js';
import { PciDevice, err, pciParent, registerFile, snapshotMigration, type PciParent, type Placement } from '../../../src/sdk/index.js';

export const INTRUDER_BAR0 = 4096;
export const RESULT = 0x800;
export const GO = 0xffc;

/** The error code a call ended with, or `ok`. */
function outcome(fn: () => unknown): string {
  try {
    const v = fn();
    return v === undefined ? 'ok' : `ok ${String(v)}`;
  } catch (e) {
    const x = e as { errno?: unknown; code?: unknown; message?: string };
    // umdev's errors carry the errno name as `errno`; Node's as `code`.
    return String(typeof x.errno === 'string' ? x.errno : (x.code ?? x.message));
  }
}

/** Runs one attack; the answer is what a test asserts on. */
async function run(verb: string, args: readonly string[]): Promise<string> {
  switch (verb) {
    case 'uid':
      return String(process.getuid?.());
    case 'kill':
      return outcome(() => process.kill(Number(args[0]), args[1] as NodeJS.Signals));
    case 'open':
      return outcome(() => openSync(args[0]!, args[1] === 'w' ? 'w' : 'r'));
    case 'read':
      return outcome(() => readFileSync(args[0]!).length);
    case 'readdir':
      return outcome(() => readdirSync(args[0]!).length);
    case 'exec':
      return outcome(() => {
        const r = spawnSync(args[0]!, args.slice(1));
        if (r.error) throw r.error;
        return r.status;
      });
    case 'setuid':
      return outcome(() => process.setuid?.(Number(args[0])));
    case 'connect':
      return new Promise((resolve) => {
        const s = connect(args[0]!);
        s.once('connect', () => {
          s.destroy();
          resolve('ok');
        });
        s.once('error', (e: NodeJS.ErrnoException) => resolve(String(e.code ?? e.message)));
      });
    case 'socketpair':
      return outcome(() => native.socketpair());
    case 'channel': {
      // Raw bytes on the host's channel to umdevd (fd 3), as hex.
      const bytes = Buffer.from(args[0]!, 'hex');
      return outcome(() => native.write(3, bytes, 0, bytes.length));
    }
    case 'spin':
      for (const end = Date.now() + Number(args[0]); Date.now() < end; );
      return 'ok';
    default:
      throw err('EINVAL', `no such command ${verb}`);
  }
}

/** A device that obeys its client. */
export class IntruderDevice extends PciDevice {
  readonly #regs: Buffer;
  /** The snapshot register (what migrates). */
  value = 0;

  constructor() {
    const regs = Buffer.alloc(INTRUDER_BAR0);
    super({
      name: 'intruder',
      identity: { vendorId: 0x1b36, deviceId: 0x01ff, classCode: 0xff0000 },
      bars: [{ kind: 'mem32', size: INTRUDER_BAR0, ...registerFile(regs, (offset) => (offset === GO ? this.#go() : undefined)) }],
      reset: () => undefined,
      migration: snapshotMigration({
        size: 4,
        save: () => {
          const b = Buffer.alloc(4);
          b.writeUInt32LE(this.value);
          return b;
        },
        restore: (b) => {
          // The vendor's parser of a stream from elsewhere: it says where it ran.
          const stream = Buffer.from(b);
          if (stream.length !== 4 || stream.readUInt32LE(0) > 0xffff) throw err('EINVAL', `intruder: bad stream, parsed by uid ${process.getuid?.()}`);
          this.value = stream.readUInt32LE(0);
        },
      }),
    });
    this.#regs = regs;
  }

  async #go(): Promise<void> {
    const text = this.#regs.toString('utf8', 0, RESULT).replace(/\0.*$/s, '');
    let answer: string;
    try {
      const [verb, ...args] = JSON.parse(text) as string[];
      answer = await run(verb ?? '', args);
    } catch (e) {
      answer = `error ${(e as Error).message}`;
    }
    this.#regs.fill(0, RESULT, GO);
    this.#regs.write(JSON.stringify(answer).slice(0, GO - RESULT - 1), RESULT, 'utf8');
  }
}

/** The intruder parent: one type, 8 devices; `vendor/value` is the migrating register. */
export function createIntruderParent(placement?: Placement): PciParent<IntruderDevice> {
  return pciParent<IntruderDevice>(
    {
      name: 'intruder',
      devicePath: 'virtual/intruder/intruder',
      driverName: 'intruder',
      maxInstances: 8,
      types: [{ sysfsName: '1' }],
      device: () => new IntruderDevice(),
      attributes: [{ name: 'vendor', attrs: [{ name: 'value', mode: 0o444, show: (d) => `${d.value}\n` }] }],
    },
    placement,
  );
}
