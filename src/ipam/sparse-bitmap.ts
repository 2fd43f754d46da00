/**
 * A set of positions in a space of up to 2^64, stored as chunks kept in a Map only where at
 * least one bit is set.
 *
 * Why this shape: an IPv6 /64 must allocate with no structure sized by the subnet, and a
 * /16 must allocate and release a million times a second. A position is (key, bit): key is
 * the chunk index (< 2^52 for a 2^64 space, so an exact double and, in practice, a small
 * integer), bit its index inside the chunk. No bigint on any path here.
 *
 * A chunk takes one of these forms:
 * - a number: the chunk holds exactly one bit, this one;
 * - a sorted array of up to LIST_MAX bit indices (big chunks only);
 *   with these two, scattered addresses (static IPv6 addresses spread over a /64) cost
 *   under 40 bytes each rather than a 600-byte bitmap each;
 * - a plain array of words plus a trailing population count, for chunks of up to 16 words
 *   (a Uint32Array costs ~240 bytes of heap whatever its length, which a /24 network would
 *   pay for 32 bytes of bits);
 * - a Uint32Array of words plus a trailing population count, for bigger chunks.
 * The count word makes "chunk full" one comparison. Serial allocation fills chunks densely,
 * so memory is about one bit per held address plus ~600 bytes per 4,096-address chunk in
 * use; an emptied chunk is dropped at once.
 */

/** A one-bit chunk (the bit's index), a short sorted list, or bitmap words plus a count. */
export type Chunk = number | Uint32Array | number[];

const SMALL_CHUNK_WORDS = 16;
/**
 * Longest list form. Past it a 4,096-bit bitmap (~620 bytes) costs under 40 bytes per bit;
 * a list of 16 costs about 6.
 */
const LIST_MAX = 16;

/** Largest chunk: 4,096 bits = 512 bytes of data. */
export const MAX_CHUNK_BITS = 4096;

export class SparseBitmap {
  /** Bits per chunk: a power of two, 1..MAX_CHUNK_BITS. */
  readonly chunkBits: number;
  /** Data words per chunk. */
  private readonly words: number;
  /**
   * Whether chunks use the one-bit and list forms (big chunks only; small ones are cheap
   * anyway). In such a space a number[] chunk is a list (bitmaps are Uint32Arrays, longer
   * than LIST_MAX); elsewhere a number[] chunk is a bitmap.
   */
  private readonly oneBitForm: boolean;
  /**
   * Chunks by key. A space of one chunk (every IPv4 subnet of /20 or smaller, i.e. nearly
   * every network) keeps its chunk in `solo` instead: no Map, which matters with 65,536
   * networks.
   */
  private readonly chunks: Map<number, Chunk> | undefined;
  private solo: Chunk | undefined = undefined;
  private cacheKey = -1;
  private cacheChunk: Chunk | undefined = undefined;
  /** Number of set bits. */
  size = 0;
  /** Result of the last successful findClear. */
  foundKey = 0;
  foundBit = 0;

  /** chunkBits: bits per chunk; single: the whole space is chunk 0. */
  constructor(chunkBits: number, single: boolean) {
    this.chunkBits = chunkBits;
    this.words = Math.max(1, chunkBits >>> 5);
    this.oneBitForm = this.words > SMALL_CHUNK_WORDS;
    this.chunks = single ? undefined : new Map();
  }

  private chunk(key: number): Chunk | undefined {
    if (this.chunks === undefined) return key === 0 ? this.solo : undefined;
    if (key === this.cacheKey) return this.cacheChunk;
    const c = this.chunks.get(key);
    this.cacheKey = key;
    this.cacheChunk = c;
    return c;
  }

  private store(key: number, c: Chunk | undefined): void {
    if (this.chunks === undefined) {
      this.solo = c;
      return;
    }
    if (c === undefined) this.chunks.delete(key);
    else this.chunks.set(key, c);
    this.cacheKey = key;
    this.cacheChunk = c;
  }

  private newWords(): Uint32Array | number[] {
    return this.words <= SMALL_CHUNK_WORDS ? new Array<number>(this.words + 1).fill(0) : new Uint32Array(this.words + 1);
  }

  private isList(c: Uint32Array | number[]): c is number[] {
    return this.oneBitForm && c.length <= LIST_MAX;
  }

  has(key: number, bit: number): boolean {
    const c = this.chunk(key);
    if (c === undefined) return false;
    if (typeof c === 'number') return c === bit;
    if (this.isList(c)) return c.includes(bit);
    return (c[bit >>> 5]! & (1 << (bit & 31))) !== 0;
  }

  /** Sets a bit; false if it was already set. */
  set(key: number, bit: number): boolean {
    let c = this.chunk(key);
    if (c === undefined) {
      if (this.oneBitForm) {
        this.store(key, bit);
        this.size++;
        return true;
      }
      c = this.newWords();
      this.store(key, c);
    } else if (typeof c === 'number') {
      if (c === bit) return false;
      this.store(key, c < bit ? [c, bit] : [bit, c]);
      this.size++;
      return true;
    } else if (this.isList(c)) {
      if (c.includes(bit)) return false;
      if (c.length < LIST_MAX) {
        let i = c.length;
        while (i > 0 && c[i - 1]! > bit) i--;
        c.splice(i, 0, bit);
        this.size++;
        return true;
      }
      const words = this.newWords();
      for (const b of c) words[b >>> 5] = words[b >>> 5]! | (1 << (b & 31));
      words[this.words] = c.length;
      this.store(key, words);
      c = words;
    }
    const w = bit >>> 5;
    const m = 1 << (bit & 31);
    const old = c[w]!;
    if ((old & m) !== 0) return false;
    c[w] = old | m;
    c[this.words] = c[this.words]! + 1;
    this.size++;
    return true;
  }

  /** Clears a bit; false if it was not set. */
  clear(key: number, bit: number): boolean {
    const c = this.chunk(key);
    if (c === undefined) return false;
    if (typeof c === 'number') {
      if (c !== bit) return false;
      this.store(key, undefined);
      this.size--;
      return true;
    }
    if (this.isList(c)) {
      const i = c.indexOf(bit);
      if (i < 0) return false;
      c.splice(i, 1);
      if (c.length === 1) this.store(key, c[0]);
      this.size--;
      return true;
    }
    const w = bit >>> 5;
    const m = 1 << (bit & 31);
    const old = c[w]!;
    if ((old & m) === 0) return false;
    c[w] = old & ~m;
    this.size--;
    const n = c[this.words]! - 1;
    c[this.words] = n;
    if (n === 0 && this.chunks !== undefined) this.store(key, undefined);
    return true;
  }

  /**
   * Finds the first clear position in [fromKey:fromBit, toKey:toBit] (inclusive, in
   * position order). On success sets foundKey/foundBit and returns true.
   */
  findClear(fromKey: number, fromBit: number, toKey: number, toBit: number): boolean {
    const full = this.chunkBits;
    const words = this.words;
    for (let key = fromKey; key <= toKey; key++) {
      const startBit = key === fromKey ? fromBit : 0;
      const endBit = key === toKey ? toBit : full - 1;
      if (startBit > endBit) return false;
      const c = this.chunk(key);
      if (c === undefined) {
        this.foundKey = key;
        this.foundBit = startBit;
        return true;
      }
      if (typeof c === 'number') {
        const b = c === startBit ? startBit + 1 : startBit;
        if (b <= endBit) {
          this.foundKey = key;
          this.foundBit = b;
          return true;
        }
        continue;
      }
      if (this.isList(c)) {
        let b = startBit;
        for (let i = 0; i < c.length; i++) {
          const v = c[i]!;
          if (v === b) b++;
          else if (v > b) break;
        }
        if (b <= endBit) {
          this.foundKey = key;
          this.foundBit = b;
          return true;
        }
        continue;
      }
      if (c[words] === full) continue;
      let w = startBit >>> 5;
      const lastW = endBit >>> 5;
      let x = ~c[w]! & (-1 << (startBit & 31));
      for (;;) {
        if (w === lastW) {
          const e = endBit & 31;
          if (e !== 31) x &= (1 << (e + 1)) - 1;
        }
        if (x !== 0) {
          this.foundKey = key;
          this.foundBit = (w << 5) + (31 - Math.clz32(x & -x));
          return true;
        }
        if (w === lastW) break;
        w++;
        x = ~c[w]!;
      }
    }
    return false;
  }

  private nonEmpty(c: Chunk | undefined): boolean {
    return c !== undefined && (typeof c === 'number' || this.isList(c) || c[this.words] !== 0);
  }

  /** Keys of non-empty chunks, ascending. */
  sortedKeys(): number[] {
    if (this.chunks === undefined) return this.nonEmpty(this.solo) ? [0] : [];
    return [...this.chunks.keys()].sort((a, b) => a - b);
  }

  /** A copy of a chunk's data words (without the count word), or undefined if empty. */
  chunkWords(key: number): Uint32Array | undefined {
    const c = this.chunk(key);
    if (!this.nonEmpty(c)) return undefined;
    const out = new Uint32Array(this.words);
    if (typeof c === 'number') out[c >>> 5] = 1 << (c & 31);
    else if (this.isList(c!)) for (const b of c as number[]) out[b >>> 5] = out[b >>> 5]! | (1 << (b & 31));
    else for (let i = 0; i < this.words; i++) out[i] = c![i]!;
    return out;
  }

  /** Number of non-empty chunks. */
  get chunkCount(): number {
    if (this.chunks === undefined) return this.nonEmpty(this.solo) ? 1 : 0;
    return this.chunks.size;
  }
}
