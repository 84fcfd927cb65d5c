/**
 * Concepts: a vfio-user structure declared once, as the table of its fields in wire order (little-endian `u16`,
 * `u32`, `u64`), from which both its decoder and its encoder follow. Offsets are the running sum of the sizes, as
 * the spec's tables lay the structures out; a table whose field would not sit at a multiple of its own size is
 * refused when the module loads, so a table cannot silently disagree with the C layout.
 */

type Kind = 'u16' | 'u32' | 'u64';

/** Field name → kind, in wire order. */
export type Fields = Readonly<Record<string, Kind>>;

/** The decoded structure: `u64` fields as bigint, the others as number. */
export type StructOf<F extends Fields> = { readonly [K in keyof F]: F[K] extends 'u64' ? bigint : number };

/** The decoded form of a declared structure. */
export type Decoded<S> = S extends Struct<infer F> ? StructOf<F> : never;

/** A declared structure: its size, and the two directions. Stateless. */
export interface Struct<F extends Fields> {
  readonly size: number;
  /** The fields at `at` of `buf`; the caller has checked that `size` bytes are there. */
  decode(buf: Buffer, at?: number): StructOf<F>;
  /**
   * Writes `v` at `at` of `buf` (a fresh zeroed buffer of `size + extra` bytes when none is given) and returns the
   * buffer. `u16` and `u32` values are taken modulo their width, as a C assignment would.
   */
  encode(v: StructOf<F>, buf?: Buffer, at?: number, extra?: number): Buffer;
}

const SIZE: Readonly<Record<Kind, number>> = { u16: 2, u32: 4, u64: 8 };

type Read = (buf: Buffer, at: number) => number | bigint;
type Write = (buf: Buffer, v: number | bigint, at: number) => void;
const READ: Readonly<Record<Kind, Read>> = {
  u16: (buf, at) => buf.readUInt16LE(at),
  u32: (buf, at) => buf.readUInt32LE(at),
  u64: (buf, at) => buf.readBigUInt64LE(at),
};
const WRITE: Readonly<Record<Kind, Write>> = {
  u16: (buf, v, at) => buf.writeUInt16LE(Number(v) & 0xffff, at),
  u32: (buf, v, at) => buf.writeUInt32LE(Number(v) >>> 0, at),
  u64: (buf, v, at) => buf.writeBigUInt64LE(BigInt(v), at),
};

/** The structure `fields` declares. */
export function struct<F extends Fields>(fields: F): Struct<F> {
  const layout: { readonly name: string; readonly at: number; readonly read: Read; readonly write: Write }[] = [];
  let size = 0;
  for (const [name, kind] of Object.entries(fields)) {
    if (size % SIZE[kind] !== 0) throw new Error(`struct field ${name} (${kind}) at offset ${size} is not aligned`);
    layout.push({ name, at: size, read: READ[kind], write: WRITE[kind] });
    size += SIZE[kind];
  }
  return {
    size,
    decode: (buf, at = 0) => {
      // Filled in table order, so every decoded value of one table has the same shape.
      const out: Record<string, number | bigint> = {};
      for (const f of layout) out[f.name] = f.read(buf, at + f.at);
      return out as StructOf<F>;
    },
    encode: (v, buf, at = 0, extra = 0) => {
      const b = buf ?? Buffer.alloc(size + extra);
      const values = v as Readonly<Record<string, number | bigint>>;
      for (const f of layout) f.write(b, values[f.name]!, at + f.at);
      return b;
    },
  };
}
