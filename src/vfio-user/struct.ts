/**
 * Concepts: a vfio-user structure declared once, as the table of its fields in wire order (little-endian `u16`,
 * `u32`, `u64`), from which both its decoder and its encoder follow. Offsets are the running sum of the sizes, as
 * the spec's tables lay the structures out; a table whose field would not sit at a multiple of its own size is
 * refused when the module loads, so a table cannot silently disagree with the C layout.
 *
 * The two functions are generated once per table as straight-line code (one read or write per field at a constant
 * offset, one object literal), because some of these structures are on the per-message path (the header, region
 * accesses): a loop over the table would cost every message a dictionary-shaped object and a branch per field.
 * The generated source is built from the table's own names only, never from received bytes.
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
const READ: Readonly<Record<Kind, string>> = { u16: 'readUInt16LE', u32: 'readUInt32LE', u64: 'readBigUInt64LE' };
const WRITE: Readonly<Record<Kind, (v: string) => string>> = {
  u16: (v) => `writeUInt16LE(${v} & 0xffff`,
  u32: (v) => `writeUInt32LE(${v} >>> 0`,
  u64: (v) => `writeBigUInt64LE(${v}`,
};

/** The structure `fields` declares. */
export function struct<F extends Fields>(fields: F): Struct<F> {
  let size = 0;
  const reads: string[] = [];
  const writes: string[] = [];
  for (const [name, kind] of Object.entries(fields)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`struct field name ${JSON.stringify(name)}`);
    if (size % SIZE[kind] !== 0) throw new Error(`struct field ${name} (${kind}) at offset ${size} is not aligned`);
    reads.push(`${name}: buf.${READ[kind]}(at + ${size})`);
    writes.push(`b.${WRITE[kind](`v.${name}`)}, at + ${size});`);
    size += SIZE[kind];
  }
  const decode = new Function('buf', 'at', `return { ${reads.join(', ')} };`) as (buf: Buffer, at: number) => StructOf<F>;
  const encode = new Function('v', 'b', 'at', `${writes.join('\n')}\nreturn b;`) as (v: StructOf<F>, b: Buffer, at: number) => Buffer;
  return {
    size,
    decode: (buf, at = 0) => decode(buf, at),
    encode: (v, buf, at = 0, extra = 0) => encode(v, buf ?? Buffer.alloc(size + extra), at),
  };
}
