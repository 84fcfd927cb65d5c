/**
 * Concepts: the UUID → device table. A `Map` keyed by the UUID string costs several cache misses per lookup of a
 * key it does not hold once it is large (the bucket, each chained entry, and each chained key string, since two
 * strings are compared by content): with 100,000 devices that dominated create. This table keys a `Map` by a seeded
 * 30-bit hash of the UUID instead (a small integer, compared without touching memory) and chains the rare
 * collisions through the records themselves, so a miss costs the bucket and the entry only.
 *
 * The seed is random per table, so nobody can precompute UUIDs that collide (and make lookups walk long chains).
 */
import { randomInt } from 'node:crypto';

/** What the table stores: a record with its UUID, its cached hash and a chain link the table owns. */
export interface UuidKeyed<R> {
  readonly uuid: string;
  uuidHash: number;
  nextSameHash: R | undefined;
}

/** A set of records by UUID, one record per UUID. Owned by the registry of one `Core`. */
export class UuidTable<R extends UuidKeyed<R>> {
  readonly #heads = new Map<number, R>();
  readonly #seed = randomInt(0x40000000);
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** The hash of a lower-case UUID (FNV-1a over its characters, seeded, cut to a small integer). */
  hash(uuid: string): number {
    let h = 0x811c9dc5 ^ this.#seed;
    for (let i = 0; i < uuid.length; i++) h = Math.imul(h ^ uuid.charCodeAt(i), 0x01000193);
    return h & 0x3fffffff;
  }

  /** The record with exactly this (lower-case) UUID. */
  get(uuid: string): R | undefined {
    for (let rec = this.#heads.get(this.hash(uuid)); rec !== undefined; rec = rec.nextSameHash) {
      if (rec.uuid === uuid) return rec;
    }
    return undefined;
  }

  /** Add a record whose UUID is not in the table (the caller checked with `get`). Sets its `uuidHash`. */
  add(rec: R): void {
    const h = this.hash(rec.uuid);
    rec.uuidHash = h;
    rec.nextSameHash = this.#heads.get(h);
    this.#heads.set(h, rec);
    this.#size++;
  }

  /** Remove a record that is in the table. */
  delete(rec: R): void {
    const h = rec.uuidHash;
    const head = this.#heads.get(h);
    if (head === rec) {
      if (rec.nextSameHash === undefined) this.#heads.delete(h);
      else this.#heads.set(h, rec.nextSameHash);
    } else {
      let prev = head;
      while (prev !== undefined && prev.nextSameHash !== rec) prev = prev.nextSameHash;
      if (prev === undefined) return;
      prev.nextSameHash = rec.nextSameHash;
    }
    rec.nextSameHash = undefined;
    this.#size--;
  }
}
