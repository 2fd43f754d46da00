/**
 * The fuzzer's mutations, all drawn from one seeded Rng so that a seed and an index replay
 * an input exactly. Generic byte mutations (bit and byte flips, interesting integers,
 * insert, delete and duplicate ranges, splicing another corpus entry) and structure-aware
 * ones that know where the lengths and counts of our formats are: protobuf fields (tags,
 * varints, length prefixes, nested messages), DNS headers, labels and compression pointers.
 */
import type { Rng } from '../../src/common/rng.ts';

/** Values that break arithmetic on lengths, counts and indexes. */
export const INTERESTING_8 = [0, 1, 0x7f, 0x80, 0xff, 0x3f, 0x40, 0xc0, 0x10, 0x20];
export const INTERESTING_16 = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x3fff, 0x4000, 0x7fff, 0x8000, 0xfffe, 0xffff, 512, 4096];
export const INTERESTING_32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x10000, 0x1000000, 0xfffffffe];
/** Varint payloads: around 2^31, 2^32, 2^53 and 2^64. */
export const INTERESTING_VARINTS: readonly bigint[] = [
  0n,
  1n,
  127n,
  128n,
  0x7fffffffn,
  0x80000000n,
  0xffffffffn,
  0x100000000n,
  2n ** 53n - 1n,
  2n ** 53n,
  2n ** 63n,
  2n ** 64n - 1n,
];

export type Mutator = (rng: Rng, input: Uint8Array, corpus: readonly Uint8Array[]) => Uint8Array;

export function randomBytes(rng: Rng, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = rng.int(256);
  return b;
}

export function concat(...parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.int(items.length)]!;
}

/** A random sub-range [s, e) of `len`, short ones more likely. */
function range(rng: Rng, len: number): [number, number] {
  const s = rng.int(len + 1);
  const max = len - s;
  const n = max === 0 ? 0 : rng.int(2) === 0 ? rng.int(Math.min(max, 8) + 1) : rng.int(max + 1);
  return [s, s + n];
}

/** One generic byte-level mutation. */
export function mutateBytesOnce(rng: Rng, b: Uint8Array, corpus: readonly Uint8Array[]): Uint8Array {
  const len = b.length;
  switch (rng.int(11)) {
    case 0: // flip a bit
      if (len) {
        const c = Uint8Array.from(b);
        c[rng.int(len)]! ^= 1 << rng.int(8);
        return c;
      }
      return b;
    case 1: // set a random byte
      if (len) {
        const c = Uint8Array.from(b);
        c[rng.int(len)] = rng.int(256);
        return c;
      }
      return b;
    case 2: // an interesting byte
      if (len) {
        const c = Uint8Array.from(b);
        c[rng.int(len)] = pick(rng, INTERESTING_8);
        return c;
      }
      return b;
    case 3: // an interesting 16-bit value, either byte order
      if (len >= 2) {
        const c = Uint8Array.from(b);
        const at = rng.int(len - 1);
        const v = pick(rng, INTERESTING_16);
        const be = rng.int(2) === 0;
        c[at] = be ? v >>> 8 : v & 0xff;
        c[at + 1] = be ? v & 0xff : v >>> 8;
        return c;
      }
      return b;
    case 4: // an interesting 32-bit value, big endian
      if (len >= 4) {
        const c = Uint8Array.from(b);
        const at = rng.int(len - 3);
        const v = pick(rng, INTERESTING_32);
        c[at] = v >>> 24;
        c[at + 1] = (v >>> 16) & 0xff;
        c[at + 2] = (v >>> 8) & 0xff;
        c[at + 3] = v & 0xff;
        return c;
      }
      return b;
    case 5: {
      // delete a range
      const [s, e] = range(rng, len);
      return concat(b.subarray(0, s), b.subarray(e));
    }
    case 6: {
      // insert random bytes
      const at = rng.int(len + 1);
      return concat(b.subarray(0, at), randomBytes(rng, 1 + rng.int(16)), b.subarray(at));
    }
    case 7: {
      // duplicate a range in place
      const [s, e] = range(rng, len);
      return concat(b.subarray(0, e), b.subarray(s, e), b.subarray(e));
    }
    case 8: {
      // truncate
      return b.subarray(0, rng.int(len + 1));
    }
    case 9: {
      // splice: our head, another entry's tail
      const other = pick(rng, corpus);
      return concat(b.subarray(0, rng.int(len + 1)), other.subarray(rng.int(other.length + 1)));
    }
    default: {
      // insert a range of another entry
      const other = pick(rng, corpus);
      const [s, e] = range(rng, other.length);
      const at = rng.int(len + 1);
      return concat(b.subarray(0, at), other.subarray(s, e), b.subarray(at));
    }
  }
}

/** 1 to 4 generic mutations (fewer more often: most inputs stay close to valid). */
export function mutateBytes(rng: Rng, input: Uint8Array, corpus: readonly Uint8Array[]): Uint8Array {
  let b = input;
  const n = 1 + (rng.int(4) === 0 ? rng.int(4) : 0);
  for (let i = 0; i < n; i++) b = mutateBytesOnce(rng, b, corpus);
  return b;
}

// ------------------------------------------------------------------------------ protobuf

export function encodeVarint(v: bigint): Uint8Array {
  const out: number[] = [];
  let x = BigInt.asUintN(64, v);
  do {
    let byte = Number(x & 0x7fn);
    x >>= 7n;
    if (x !== 0n) byte |= 0x80;
    out.push(byte);
  } while (x !== 0n);
  return Uint8Array.from(out);
}

function readVarint(b: Uint8Array, at: number): { value: bigint; end: number } | undefined {
  let v = 0n;
  let shift = 0n;
  for (let i = at; i < b.length && i < at + 10; i++) {
    v |= BigInt(b[i]! & 0x7f) << shift;
    shift += 7n;
    if ((b[i]! & 0x80) === 0) return { value: v, end: i + 1 };
  }
  return undefined;
}

/** One top-level protobuf field: [start, end) with its tag, wire type and value span. */
export interface PbField {
  start: number;
  end: number;
  field: number;
  wire: number;
  /** Where the value starts (after the tag, and after the length for wire type 2). */
  valueStart: number;
}

/** The fields of `b` as far as they parse (stops at the first one that does not). */
export function pbFields(b: Uint8Array): PbField[] {
  const out: PbField[] = [];
  let at = 0;
  while (at < b.length && out.length < 256) {
    const tag = readVarint(b, at);
    if (!tag) break;
    const field = Number(tag.value >> 3n);
    const wire = Number(tag.value & 7n);
    let end: number;
    let valueStart = tag.end;
    if (wire === 0) {
      const v = readVarint(b, tag.end);
      if (!v) break;
      end = v.end;
    } else if (wire === 1) end = tag.end + 8;
    else if (wire === 5) end = tag.end + 4;
    else if (wire === 2) {
      const n = readVarint(b, tag.end);
      if (!n || n.value > BigInt(b.length)) break;
      valueStart = n.end;
      end = n.end + Number(n.value);
    } else break;
    if (end > b.length) break;
    out.push({ start: at, end, field, wire, valueStart });
    at = end;
  }
  return out;
}

function tagBytes(field: number, wire: number): Uint8Array {
  return encodeVarint((BigInt(field) << 3n) | BigInt(wire));
}

/**
 * One structure-aware protobuf mutation: a varint set to an interesting value, a length
 * prefix that lies, a field renumbered (to a neighbour: another oneof member, another
 * message type), dropped, duplicated or moved, a wire type changed, or a nested message
 * mutated recursively with its length prefix kept right.
 */
export function mutateProtobuf(rng: Rng, b: Uint8Array, corpus: readonly Uint8Array[], depth = 0): Uint8Array {
  const fields = pbFields(b);
  if (fields.length === 0) return mutateBytesOnce(rng, b, corpus);
  const f = pick(rng, fields);
  const before = b.subarray(0, f.start);
  const after = b.subarray(f.end);
  const value = b.subarray(f.valueStart, f.end);
  switch (rng.int(9)) {
    case 0: // an interesting varint value (or a varint where a length was)
      return concat(before, tagBytes(f.field, 0), encodeVarint(pick(rng, INTERESTING_VARINTS)), after);
    case 1: {
      // a length prefix that does not match the bytes after it
      if (f.wire !== 2) return concat(before, tagBytes(f.field, 2), encodeVarint(BigInt(rng.int(300))), b.subarray(f.valueStart));
      const lie = rng.int(2) === 0 ? value.length + 1 + rng.int(8) : rng.int(value.length + 1);
      return concat(before, tagBytes(f.field, 2), encodeVarint(BigInt(rng.int(8) === 0 ? 0xffffffff : lie)), value, after);
    }
    case 2: {
      // renumber: a neighbour, a small number, or something far away
      const n = rng.int(3) === 0 ? 1 + rng.int(12) : rng.int(3) === 0 ? rng.int(2 ** 29) : Math.max(1, f.field + rng.int(5) - 2);
      return concat(before, tagBytes(n, f.wire), b.subarray(f.valueStart - (f.wire === 2 ? lengthPrefixSize(b, f) : 0), f.end), after);
    }
    case 3: // drop the field
      return concat(before, after);
    case 4: // duplicate it (a repeated field, or a oneof set twice)
      return concat(b.subarray(0, f.end), b.subarray(f.start, f.end), after);
    case 5: {
      // copy a field from another corpus entry in here
      const src = pick(rng, corpus);
      const g = pbFields(src);
      if (!g.length) return mutateBytesOnce(rng, b, corpus);
      const h = pick(rng, g);
      return concat(b.subarray(0, f.end), src.subarray(h.start, h.end), after);
    }
    case 6: // another wire type over the same bytes
      return concat(before, tagBytes(f.field, pick(rng, [0, 1, 2, 3, 4, 5, 6, 7])), b.subarray(f.valueStart), after);
    case 7: {
      // recurse into a nested message, keeping the length right
      if (f.wire !== 2 || depth > 4) return mutateBytesOnce(rng, b, corpus);
      const inner = rng.int(3) === 0 ? mutateBytesOnce(rng, value, corpus) : mutateProtobuf(rng, value, corpus, depth + 1);
      return concat(before, tagBytes(f.field, 2), encodeVarint(BigInt(inner.length)), inner, after);
    }
    default: {
      // a string or bytes field made long, empty or full of odd bytes
      if (f.wire !== 2) return mutateBytesOnce(rng, b, corpus);
      const choice = rng.int(4);
      const v =
        choice === 0
          ? new Uint8Array(0)
          : choice === 1
            ? new Uint8Array(200 + rng.int(2000)).fill(0x61)
            : choice === 2
              ? Uint8Array.from([0, 0xff, 0xc3, 0x28, 0xe2, 0x82])
              : randomBytes(rng, rng.int(40));
      return concat(before, tagBytes(f.field, 2), encodeVarint(BigInt(v.length)), v, after);
    }
  }
}

function lengthPrefixSize(b: Uint8Array, f: PbField): number {
  const tag = readVarint(b, f.start)!;
  return f.valueStart - tag.end;
}

/** Protobuf-aware most of the time, byte-level otherwise; one to three rounds. */
export function mutatePb(rng: Rng, input: Uint8Array, corpus: readonly Uint8Array[]): Uint8Array {
  let b = input;
  const n = 1 + (rng.int(3) === 0 ? rng.int(3) : 0);
  for (let i = 0; i < n; i++) b = rng.int(3) === 0 ? mutateBytesOnce(rng, b, corpus) : mutateProtobuf(rng, b, corpus);
  return b;
}

// ------------------------------------------------------------------------------ DNS

/**
 * One DNS-aware mutation: a header count (QD/AN/NS/AR) set to an interesting value, flags
 * and opcode, a label length byte changed (longer than what follows, over 63, a
 * compression pointer to anywhere, including itself), or the question's type and class.
 */
export function mutateDns(rng: Rng, input: Uint8Array, corpus: readonly Uint8Array[]): Uint8Array {
  if (input.length < 12 || rng.int(4) === 0) return mutateBytes(rng, input, corpus);
  const b = Uint8Array.from(input);
  switch (rng.int(6)) {
    case 0: {
      const at = 4 + 2 * rng.int(4);
      const v = pick(rng, [0, 1, 2, 3, 0xff, 0x100, 0xffff]);
      b[at] = v >>> 8;
      b[at + 1] = v & 0xff;
      return b;
    }
    case 1: // flags: QR, opcode, AA, TC, RD, RA, Z, AD, CD, rcode
      b[2] = rng.int(256);
      if (rng.int(2) === 0) b[3] = rng.int(256);
      return b;
    case 2: {
      // a label length
      const labels: number[] = [];
      for (let at = 12; at < b.length && labels.length < 64; ) {
        const n = b[at]!;
        labels.push(at);
        if (n === 0 || n >= 0xc0) break;
        at += n + 1;
      }
      if (!labels.length) return b;
      const at = pick(rng, labels);
      b[at] = pick(rng, [0, 1, 63, 64, 0x7f, 0xbf, 0xff, b.length & 0xff]);
      return b;
    }
    case 3: {
      // a compression pointer somewhere: to itself, backwards, forwards, past the end
      const at = 12 + rng.int(b.length - 12);
      if (at + 1 >= b.length) return b;
      const target = pick(rng, [at, 12, rng.int(b.length), b.length + 5, 0x3fff]);
      b[at] = 0xc0 | ((target >>> 8) & 0x3f);
      b[at + 1] = target & 0xff;
      return b;
    }
    case 4: {
      // question type and class (the 4 bytes after the first name), or the OPT's fields
      const at = rng.int(2) === 0 ? b.length - 4 - rng.int(Math.min(16, b.length - 12)) : 12 + rng.int(b.length - 12);
      const v = pick(rng, INTERESTING_16);
      if (at >= 12 && at + 1 < b.length) {
        b[at] = v >>> 8;
        b[at + 1] = v & 0xff;
      }
      return b;
    }
    default: {
      // many questions: the question section repeated with QDCOUNT to match
      const tail = b.subarray(12);
      const k = 2 + rng.int(6);
      const parts = [b.subarray(0, 12)];
      for (let i = 0; i < k; i++) parts.push(tail);
      const out = concat(...parts);
      out[4] = 0;
      out[5] = k;
      return out;
    }
  }
}
