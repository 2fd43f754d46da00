/**
 * Encoded UDP answers kept for reuse, per sandbox: the same query asked again (byte for byte
 * but its id) while the records are unchanged is answered by copying the bytes of the first
 * answer and writing the new id in, without decoding, running the chain or encoding. Names
 * in a container are asked over and over (every HTTP client resolves its backend per
 * request unless it caches), and the decode, chain and encode were most of the resolver's
 * own work per query and most of its garbage, whose collections set its tail latency.
 *
 * What may be kept is the chain's to say: only a Response marked `reuse` (the records
 * handler's answers; never a forwarded one, whose TTLs are upstream's) is stored, and never
 * a truncated one. Everything the answer depends on is in the key or clears the cache:
 * - the query's bytes after the id (looked up by a hash of them, then compared): the name as the client spelled it (its case is
 *   echoed), type, class, flags, EDNS and its payload size, hence the truncation budget;
 * - the sandbox's networks: a change of them clears its cache (the server does);
 * - the records: `generation` is the current record index; a different one clears it.
 *
 * A `shuffle` answer (a set of tasks: `tasks.<service>`, a dnsrr name) is stored with the
 * offsets of its A and AAAA record data, and each copy permutes the addresses among the
 * records of one name and type (Fisher-Yates): the same uniform shuffle the records handler
 * gives a fresh answer. The answer is written into one buffer the cache owns (`out`), which
 * the socket copies into its batch at once, so a reused answer allocates nothing.
 *
 * Bounded: past MAX_ENTRIES queries the cache starts over (queries with random parts, such
 * as a DNS cookie per query, would otherwise grow it without end).
 */
import type { Rng } from '../common/rng.ts';
import type { AnswerReuse } from './message.ts';

export const MAX_ENTRIES = 4096;

const TYPE_A = 1;
const TYPE_AAAA = 28;
const HEADER_BYTES = 12;

interface Entry {
  /** The query's bytes after its id. */
  key: Uint8Array;
  bytes: Uint8Array;
  /** Groups of record-data offsets whose contents a copy permutes; each group holds one size. */
  groups: Array<{ size: number; offsets: number[] }>;
}

/**
 * The hash of a query's bytes after its id, `b[start + 2, end)` (FNV-1a, cut to 30 bits so
 * that it stays a small integer: a Map keyed by it allocates nothing per lookup).
 */
function hashOf(b: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start + 2; i < end; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h & 0x3fffffff;
}

function sameKey(key: Uint8Array, b: Uint8Array, start: number, end: number): boolean {
  if (key.length !== end - start - 2) return false;
  for (let i = 0; i < key.length; i++) if (key[i] !== b[start + 2 + i]) return false;
  return true;
}

/** The end offset of the name at `off` (labels, then a terminator or a compression pointer), or -1. */
function skipName(b: Uint8Array, off: number): number {
  for (let i = off; i < b.length; ) {
    const len = b[i]!;
    if (len === 0) return i + 1;
    if ((len & 0xc0) === 0xc0) return i + 2 <= b.length ? i + 2 : -1;
    if ((len & 0xc0) !== 0) return -1;
    i += 1 + len;
  }
  return -1;
}

/**
 * The answer section's A and AAAA record data, grouped by owner name (its bytes) and type,
 * groups of one left out; undefined when the message does not parse.
 */
export function shuffleGroups(b: Uint8Array): Array<{ size: number; offsets: number[] }> | undefined {
  if (b.length < HEADER_BYTES) return undefined;
  const qd = (b[4]! << 8) | b[5]!;
  const an = (b[6]! << 8) | b[7]!;
  let off = HEADER_BYTES;
  for (let i = 0; i < qd; i++) {
    off = skipName(b, off);
    if (off < 0 || off + 4 > b.length) return undefined;
    off += 4;
  }
  const groups = new Map<string, { size: number; offsets: number[] }>();
  for (let i = 0; i < an; i++) {
    const start = off;
    off = skipName(b, off);
    if (off < 0 || off + 10 > b.length) return undefined;
    const type = (b[off]! << 8) | b[off + 1]!;
    const rdlen = (b[off + 8]! << 8) | b[off + 9]!;
    const data = off + 10;
    if (data + rdlen > b.length) return undefined;
    if ((type === TYPE_A && rdlen === 4) || (type === TYPE_AAAA && rdlen === 16)) {
      const k = `${Buffer.from(b.buffer, b.byteOffset + start, off - start).toString('latin1')}/${type}`;
      let g = groups.get(k);
      if (!g) {
        g = { size: rdlen, offsets: [] };
        groups.set(k, g);
      }
      g.offsets.push(data);
    }
    off = data + rdlen;
  }
  return [...groups.values()].filter((g) => g.offsets.length > 1);
}

export class AnswerCache {
  /** Where answerInto writes; the longest answer kept is an EDNS UDP answer (4,096 bytes). */
  readonly out = Buffer.allocUnsafe(4096);
  private entries = new Map<number, Entry>();
  private generation: unknown;

  constructor(private readonly rng: Rng) {}

  /** Entries held now. */
  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries = new Map();
  }

  /**
   * Writes the answer to the query `buf[start, end)` into `out`, with its id, and returns
   * its length; -1 when none is kept. `out` is overwritten by the next call.
   */
  answerInto(buf: Uint8Array, start: number, end: number, generation: unknown): number {
    if (generation !== this.generation || end - start < HEADER_BYTES) {
      if (generation !== this.generation) this.clear();
      this.generation = generation;
      return -1;
    }
    const e = this.entries.get(hashOf(buf, start, end));
    if (!e || !sameKey(e.key, buf, start, end)) return -1;
    const out = this.out;
    out.set(e.bytes);
    out[0] = buf[start]!;
    out[1] = buf[start + 1]!;
    for (const g of e.groups) this.permute(out, g.size, g.offsets);
    return e.bytes.length;
  }

  /** The answer to `query` from the cache, with its id, as a copy of its own; undefined when none is kept. */
  get(query: Uint8Array, generation: unknown): Uint8Array | undefined {
    const n = this.answerInto(query, 0, query.length, generation);
    return n < 0 ? undefined : Uint8Array.from(this.out.subarray(0, n));
  }

  /** Keeps `answer` (encoded, untruncated) for `query` as `reuse` allows, for records of `generation`. */
  put(query: Uint8Array, generation: unknown, answer: Uint8Array, reuse: AnswerReuse): void {
    if (query.length < HEADER_BYTES || answer.length < HEADER_BYTES || answer.length > this.out.length) return;
    if (generation !== this.generation) {
      this.clear();
      this.generation = generation;
    }
    const groups = reuse === 'shuffle' ? shuffleGroups(answer) : [];
    if (!groups) return;
    if (this.entries.size >= MAX_ENTRIES) this.clear();
    this.entries.set(hashOf(query, 0, query.length), { key: Uint8Array.from(query.subarray(2)), bytes: Uint8Array.from(answer), groups });
  }

  private permute(b: Uint8Array, size: number, offsets: readonly number[]): void {
    for (let i = offsets.length - 1; i > 0; i--) {
      const j = this.rng.int(i + 1);
      if (j === i) continue;
      const a = offsets[i]!;
      const c = offsets[j]!;
      for (let k = 0; k < size; k++) {
        const x = b[a + k]!;
        b[a + k] = b[c + k]!;
        b[c + k] = x;
      }
    }
  }
}
