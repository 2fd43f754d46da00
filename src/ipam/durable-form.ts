/**
 * The durable form of a network's IPAM: a compact ASCII string the manager stores in the
 * network's row, in the same transaction as the change, and that restores exactly (the
 * same subnets, reservations, held addresses and serial cursors, so the next allocation
 * after a restart is the one that would have come without it).
 *
 *   form    = "1" ("|" subnet)+
 *   subnet  = cidr ("," field)*
 *   field   = "g" address        gateway, when not the first host address
 *           | "r" cidr           ip-range
 *           | "x" name "=" addr  aux address (name percent-encoded), in order
 *           | "d" decimal        carved from a default pool, carving sequence number
 *           | "c" hex            cursor (window offset), when not the range start
 *           | "u" base64url      held addresses in the window (see below)
 *           | "f" hex ("." hex)* held addresses outside the window (subnet offsets)
 *
 * Held set: for each chunk holding a held address, ascending: varint(key gap), then either
 * varint(runCount) and per run varint(start - end of previous run), varint(length - 1), or
 * varint(0) followed by the chunk's raw bitmap (little-endian words), whichever is
 * shorter. Reserved addresses are never written: they follow from the subnet's options.
 * A /24 carved network with nothing held is "1|10.0.0.0/24,d1"; 60,000 addresses handed
 * out serially in a /16 take about 160 characters, and no /16 takes more than ~11 KB.
 *
 * The network's ID and name are not part of the form: they are columns of the same row.
 */
import { formatAddress } from './address.ts';
import { ipamError } from './errors.ts';
import type { Network } from './network-ipam.ts';
import { buildSubnetSpec, SubnetAllocator, type SubnetSpec } from './subnet-allocator.ts';
import type { SubnetRequest } from './types.ts';

const VERSION = '1';

// ---------------------------------------------------------------- varints

function writeVarint(out: number[], v: number): void {
  while (v >= 128) {
    out.push((v % 128) | 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

class Reader {
  pos = 0;
  constructor(readonly bytes: Uint8Array) {}
  get done(): boolean {
    return this.pos >= this.bytes.length;
  }
  varint(): number {
    let v = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.bytes.length) throw new Error('truncated varint');
      const b = this.bytes[this.pos++]!;
      v += (b & 127) * scale;
      if (b < 128) return v;
      scale *= 128;
    }
    throw new Error('varint too long');
  }
  byte(): number {
    if (this.pos >= this.bytes.length) throw new Error('truncated bitmap');
    return this.bytes[this.pos++]!;
  }
}

// ---------------------------------------------------------------- encode

function encodeHeld(s: SubnetAllocator): string {
  const out: number[] = [];
  const words = Math.max(1, s.chunkBits >>> 5);
  let prevKey = -1;
  const runs: number[] = [];
  for (const key of s.bitmap.sortedKeys()) {
    const data = s.bitmap.chunkWords(key)!;
    for (let i = 0; i < s.resPos.length; i += 2) {
      if (s.resPos[i] === key) {
        const bit = s.resPos[i + 1]!;
        data[bit >>> 5] = data[bit >>> 5]! & ~(1 << (bit & 31));
      }
    }
    runs.length = 0;
    let runStart = -1;
    for (let bit = 0; bit <= s.chunkBits; bit++) {
      const set = bit < s.chunkBits && (data[bit >>> 5]! & (1 << (bit & 31))) !== 0;
      if (set && runStart < 0) runStart = bit;
      else if (!set && runStart >= 0) {
        runs.push(runStart, bit - runStart);
        runStart = -1;
      }
    }
    if (runs.length === 0) continue;
    writeVarint(out, key - prevKey - 1);
    prevKey = key;
    const runBytes: number[] = [];
    writeVarint(runBytes, runs.length / 2);
    let end = 0;
    for (let i = 0; i < runs.length; i += 2) {
      writeVarint(runBytes, runs[i]! - end);
      writeVarint(runBytes, runs[i + 1]! - 1);
      end = runs[i]! + runs[i + 1]!;
    }
    if (runBytes.length <= 1 + words * 4) {
      for (const b of runBytes) out.push(b);
    } else {
      out.push(0);
      for (let w = 0; w < words; w++) {
        const x = data[w]!;
        out.push(x & 255, (x >>> 8) & 255, (x >>> 16) & 255, x >>> 24);
      }
    }
  }
  return Buffer.from(out).toString('base64url');
}

function encodeSubnet(s: SubnetAllocator): string {
  const spec = s.spec;
  const fields = [spec.cidr.text];
  if (spec.gateway !== spec.cidr.base + 1n) fields.push(`g${formatAddress(s.family, spec.gateway)}`);
  if (spec.ipRange) fields.push(`r${spec.ipRange.text}`);
  for (const [name, value] of spec.aux) fields.push(`x${encodeURIComponent(name)}=${formatAddress(s.family, value)}`);
  if (spec.carveSeq > 0) fields.push(`d${spec.carveSeq}`);
  if (s.curKey !== s.rsKey || s.curBit !== s.rsBit) fields.push(`c${s.offsetOf(s.curKey, s.curBit).toString(16)}`);
  if (s.used > s.far.size) fields.push(`u${encodeHeld(s)}`);
  if (s.far.size > 0) {
    const offs = [...s.far].map((v) => v - s.cidr.base).sort((a, b) => (a < b ? -1 : 1));
    fields.push(`f${offs.map((o) => o.toString(16)).join('.')}`);
  }
  return fields.join(',');
}

export function encodeNetwork(net: Network): string {
  return [VERSION, ...net.allocators.map(encodeSubnet)].join('|');
}

// ---------------------------------------------------------------- decode

function claimStored(s: SubnetAllocator, key: number, bit: number): void {
  if (bit >= s.chunkBits) throw new Error(`bit ${bit} beyond its chunk`);
  if (s.reservedAt(key, bit)) throw new Error(`held address ${s.format(key, bit)} is reserved`);
  if (!s.claimAt(key, bit)) throw new Error(`address ${s.format(key, bit)} listed twice`);
}

function decodeHeld(s: SubnetAllocator, text: string): void {
  const r = new Reader(Buffer.from(text, 'base64url'));
  const words = Math.max(1, s.chunkBits >>> 5);
  const maxKey = 2 ** (s.windowHostBits - s.chunkShift) - 1;
  let key = -1;
  while (!r.done) {
    key += r.varint() + 1;
    if (key > maxKey) throw new Error('chunk beyond the subnet');
    const n = r.varint();
    if (n === 0) {
      for (let w = 0; w < words; w++) {
        const x = (r.byte() | (r.byte() << 8) | (r.byte() << 16) | (r.byte() << 24)) >>> 0;
        for (let b = 0; b < 32; b++) if ((x >>> b) & 1) claimStored(s, key, (w << 5) + b);
      }
    } else {
      let end = 0;
      for (let i = 0; i < n; i++) {
        const start = end + r.varint();
        const len = r.varint() + 1;
        if (start + len > s.chunkBits) throw new Error('run beyond its chunk');
        for (let b = start; b < start + len; b++) claimStored(s, key, b);
        end = start + len;
      }
    }
  }
}

function decodeSubnet(text: string): SubnetAllocator {
  const fields = text.split(',');
  const req: SubnetRequest & { auxAddresses: Record<string, string> } = { subnet: fields[0]!, auxAddresses: {} };
  let carveSeq = 0;
  let cursor: bigint | undefined;
  let held: string | undefined;
  let far: string | undefined;
  for (const f of fields.slice(1)) {
    const tag = f[0];
    const v = f.slice(1);
    switch (tag) {
      case 'g':
        req.gateway = v;
        break;
      case 'r':
        req.ipRange = v;
        break;
      case 'x': {
        const eq = v.indexOf('=');
        if (eq < 0) throw new Error(`bad aux field ${f}`);
        req.auxAddresses[decodeURIComponent(v.slice(0, eq))] = v.slice(eq + 1);
        break;
      }
      case 'd':
        if (!/^[1-9][0-9]*$/.test(v)) throw new Error(`bad carve sequence ${v}`);
        carveSeq = Number(v);
        break;
      case 'c':
        if (!/^[0-9a-f]+$/.test(v)) throw new Error(`bad cursor ${v}`);
        cursor = BigInt(`0x${v}`);
        break;
      case 'u':
        if (!/^[A-Za-z0-9_-]+$/.test(v)) throw new Error('held set is not base64url');
        held = v;
        break;
      case 'f':
        far = v;
        break;
      default:
        throw new Error(`unknown field ${JSON.stringify(f)}`);
    }
  }
  const spec: SubnetSpec = buildSubnetSpec(req, carveSeq);
  const s = new SubnetAllocator(spec);
  if (cursor !== undefined) {
    if (!s.positionOf(s.windowBase + cursor) || !s.inRange(s.key, s.bit)) throw new Error('cursor outside the ip-range');
    s.curKey = s.key;
    s.curBit = s.bit;
  }
  if (held !== undefined) decodeHeld(s, held);
  if (far !== undefined) {
    for (const h of far.split('.')) {
      if (!/^[0-9a-f]+$/.test(h)) throw new Error(`bad far offset ${h}`);
      const value = spec.cidr.base + BigInt(`0x${h}`);
      if (value > spec.cidr.last || s.positionOf(value)) throw new Error(`far offset ${h} is not outside the window`);
      if (s.reservedFarAt(value) || !s.claimFar(value)) throw new Error(`far offset ${h} is reserved or listed twice`);
    }
  }
  return s;
}

/** Rebuilds a network from its durable form; throws SHOAL_ERR_IPAM_BAD_STATE naming it. */
export function decodeNetworkAllocators(id: string, name: string, state: string): SubnetAllocator[] {
  try {
    if (typeof state !== 'string') throw new Error('not a string');
    const parts = state.split('|');
    if (parts[0] !== VERSION) throw new Error(`unknown version ${JSON.stringify(parts[0])}`);
    if (parts.length < 2) throw new Error('no subnet');
    return parts.slice(1).map(decodeSubnet);
  } catch (err) {
    throw ipamError(
      'SHOAL_ERR_IPAM_BAD_STATE',
      `stored IPAM state of network "${name}" (${id}) cannot be read: ${(err as Error).message}`,
      { network: name, networkId: id },
      err,
    );
  }
}
