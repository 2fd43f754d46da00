/**
 * The resolver's wire codec: DNS messages (RFC 1035 4.1) to and from the model of
 * message.ts, and the 2-byte length framing of DNS over TCP (RFC 1035 4.2.2). Pure and
 * synchronous; nothing here does I/O. This file decodes; wire-encode.ts encodes (names
 * compressed, truncation to a byte budget) and tcp-frame.ts frames; all three are used
 * through this module.
 *
 * Decoding trusts nothing: every length is checked against the buffer, names obey RFC 1035
 * 2.3.4 (labels of 1-63 bytes, at most 255 bytes on the wire including the root), and a
 * compression pointer (4.1.4) must point before the run of labels it ends, which makes every
 * pointer chain strictly backwards and so finite; the hops are bounded as well. Names come
 * out lower-cased (ASCII only, RFC 4343; A-labels stay as sent, IDNA is not our business),
 * without the trailing dot, with bytes that are not printable ASCII, a dot or a backslash
 * inside a label written as master-file escapes (`\DDD`, `\.`, `\\`, RFC 1035 5.1), which
 * the encoder reads back. Every failure is a ShoalError of errors.ts, whose details carry
 * the rcode to answer with and, once the header was read, the id.
 */
import { formatV4, formatV6 } from '../common/ip.ts';
import { dnsError } from './errors.ts';
import {
  CLASS_IN,
  type Edns,
  type Query,
  type Question,
  RCODE,
  type RecordData,
  type ResourceRecord,
  type Response,
  RR_TYPE,
} from './message.ts';

export { encodeQuery, encodeResponse } from './wire-encode.ts';
export { frameTcp, TcpFrameReader } from './tcp-frame.ts';

const HEADER_LEN = 12;
/** RFC 1035 2.3.4: a name is at most 255 bytes on the wire, root byte included. */
const MAX_NAME_WIRE = 255;
/**
 * Compression hops allowed in one name. A 255-byte name has at most 127 labels, so more
 * hops than that are only pointers to pointers; the backwards rule ends those anyway.
 */
const MAX_HOPS = 128;
/** RFC 1035 4.2.1 / RFC 6891 6.2.5: a UDP payload size below 512 is read as 512. */
const MIN_UDP_PAYLOAD = 512;
/** RFC 6891 6.1.3: the extended rcode for an EDNS version the responder does not speak. */
export const RCODE_BADVERS = 16;

// ---------------------------------------------------------------- errors

/** The header of the message being decoded, for the details of an error (-1: not read). */
let errId = -1;
let errOpcode = 0;
let errRd = false;
let errCd = false;

function malformed(message: string, at: number, rcode: number = RCODE.FORMERR): never {
  const details: Record<string, unknown> = { rcode, at };
  if (errId >= 0) {
    details['id'] = errId;
    details['opcode'] = errOpcode;
    details['rd'] = errRd;
    details['cd'] = errCd;
  }
  throw dnsError('SHOAL_ERR_DNS_MALFORMED', `malformed DNS message: ${message} (at byte ${at})`, details);
}

// ---------------------------------------------------------------- names, decoding

/** Text of the name being decoded (at most 255 bytes, each at most 4 characters). */
const nameText = Buffer.allocUnsafe(1024);
/** Wire form of a name being expanded (decompressed) into raw rdata. */
const nameWire = new Uint8Array(MAX_NAME_WIRE);
/** Set by readName: where the name ends in the message (after its root byte or pointer). */
let nameEnd = 0;
/** Set by readName in wire mode: the length of the expanded name in nameWire. */
let nameWireLen = 0;

/**
 * Reads the name at `start`: as lower-cased text (wire false) or as its uncompressed wire
 * form into nameWire (wire true, case kept). Sets nameEnd.
 */
function readName(buf: Uint8Array, start: number, wire: boolean): string {
  const n = buf.length;
  let p = start;
  let runStart = start;
  let end = -1;
  let hops = 0;
  let wireLen = 0;
  let t = 0;
  for (;;) {
    if (p >= n) malformed('a name runs past the end of the message', p);
    const len = buf[p]!;
    if (len === 0) {
      if (end < 0) end = p + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (p + 1 >= n) malformed('a compression pointer cut short', p);
      const target = ((len & 0x3f) << 8) | buf[p + 1]!;
      // Before the labels this run started with: a pointer to itself, into its own run or
      // forwards could loop; a chain of backward pointers cannot.
      if (target >= runStart) malformed(`a compression pointer to ${target} that does not point backwards`, p);
      if (target < HEADER_LEN) malformed(`a compression pointer into the header (${target})`, p);
      if (++hops > MAX_HOPS) malformed(`a name with more than ${MAX_HOPS} compression pointers`, p);
      if (end < 0) end = p + 2;
      p = runStart = target;
      continue;
    }
    // 0x40 and 0x80 are the extended and reserved label types (RFC 6891 5): a label of 64+.
    if (kind !== 0) malformed(`a label of length ${len} (labels are 1-63 bytes)`, p);
    wireLen += len + 1;
    if (wireLen + 1 > MAX_NAME_WIRE) malformed('a name longer than 255 bytes', p);
    const labelEnd = p + 1 + len;
    if (labelEnd > n) malformed('a label runs past the end of the message', p);
    if (wire) {
      nameWire.set(buf.subarray(p, labelEnd), wireLen - len - 1);
    } else {
      if (t > 0) nameText[t++] = 0x2e;
      for (let k = p + 1; k < labelEnd; k++) {
        let c = buf[k]!;
        if (c >= 0x41 && c <= 0x5a) c |= 0x20;
        if (c > 0x20 && c < 0x7f) {
          if (c === 0x2e || c === 0x5c) nameText[t++] = 0x5c;
          nameText[t++] = c;
        } else {
          nameText[t++] = 0x5c;
          nameText[t++] = 48 + ((c / 100) | 0);
          nameText[t++] = 48 + (((c / 10) | 0) % 10);
          nameText[t++] = 48 + (c % 10);
        }
      }
    }
    p = labelEnd;
  }
  nameEnd = end;
  if (wire) {
    nameWire[wireLen] = 0;
    nameWireLen = wireLen + 1;
    return '';
  }
  return t === 0 ? '' : nameText.toString('latin1', 0, t);
}

/** Where the name at `p` ends on the wire, without following pointers (for skipped records). */
function skipName(buf: Uint8Array, p: number): number {
  const n = buf.length;
  let wireLen = 0;
  for (;;) {
    if (p >= n) malformed('a name runs past the end of the message', p);
    const len = buf[p]!;
    if (len === 0) return p + 1;
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (p + 1 >= n) malformed('a compression pointer cut short', p);
      return p + 2;
    }
    if (kind !== 0) malformed(`a label of length ${len} (labels are 1-63 bytes)`, p);
    wireLen += len + 1;
    if (wireLen + 1 > MAX_NAME_WIRE) malformed('a name longer than 255 bytes', p);
    p += len + 1;
  }
}

const u16 = (buf: Uint8Array, p: number): number => (buf[p]! << 8) | buf[p + 1]!;
const u32 = (buf: Uint8Array, p: number): number => ((buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!) >>> 0;

// ---------------------------------------------------------------- decoding messages

function readHeader(buf: Uint8Array): number {
  errId = -1;
  if (buf.length < HEADER_LEN) malformed(`${buf.length} bytes, shorter than the 12-byte header`, 0);
  const flags = u16(buf, 2);
  errId = u16(buf, 0);
  errOpcode = (flags >>> 11) & 0xf;
  errRd = (flags & 0x0100) !== 0;
  errCd = (flags & 0x0010) !== 0;
  return flags;
}

/** Reads the question after the header; sets nameEnd to where it ends. */
function readQuestion(buf: Uint8Array): Question {
  const name = readName(buf, HEADER_LEN, false);
  const p = nameEnd;
  if (p + 4 > buf.length) malformed('the question is cut short', p);
  nameEnd = p + 4;
  return { name, type: u16(buf, p), class: u16(buf, p + 2) };
}

/** Reads the OPT record whose type field is at `p` (its owner name already checked). */
function readOpt(buf: Uint8Array, p: number, rdEnd: number, query: boolean): { edns: Edns; extRcode: number } {
  const payload = u16(buf, p + 2);
  const extRcode = buf[p + 4]!;
  const version = buf[p + 5]!;
  const dnssecOk = (buf[p + 6]! & 0x80) !== 0;
  // The options are not kept, but their framing must hold.
  for (let o = p + 10; o < rdEnd; ) {
    if (o + 4 > rdEnd) malformed('an EDNS option cut short', o);
    o += 4 + u16(buf, o + 2);
    if (o > rdEnd) malformed('an EDNS option runs past its record', o);
  }
  if (query && version !== 0) {
    const details: Record<string, unknown> = { rcode: RCODE_BADVERS, id: errId, opcode: errOpcode, rd: errRd, cd: errCd, version };
    throw dnsError('SHOAL_ERR_DNS_BAD_EDNS_VERSION', `the query asks for EDNS version ${version}; only 0 is spoken`, details);
  }
  return { edns: { udpPayloadSize: Math.max(MIN_UDP_PAYLOAD, payload), dnssecOk }, extRcode };
}

/**
 * Decodes a query a client sent: exactly one question, the OPT record of the additional
 * section if any (two are FORMERR, RFC 6891 6.1.1). Answer and authority records, which a
 * query should not have, are skipped (their names are not followed, so they cannot loop).
 * EDNS's payload size comes out as at least 512. Bytes after the last record are ignored.
 */
export function decodeQuery(buf: Uint8Array): Query {
  const flags = readHeader(buf);
  if ((flags & 0x8000) !== 0) {
    throw dnsError('SHOAL_ERR_DNS_NOT_A_QUERY', 'the message has the QR bit set: it is a response, not a query', { id: errId });
  }
  const qd = u16(buf, 4);
  if (qd !== 1) malformed(`QDCOUNT ${qd}: a query asks exactly one question`, 4);
  const question = readQuestion(buf);
  let p = nameEnd;
  const skipped = u16(buf, 6) + u16(buf, 8);
  const ar = u16(buf, 10);
  let edns: Edns | undefined;
  const n = buf.length;
  for (let i = 0; i < skipped + ar; i++) {
    const at = p;
    p = skipName(buf, p);
    if (p + 10 > n) malformed('a record cut short', p);
    const rdEnd = p + 10 + u16(buf, p + 8);
    if (rdEnd > n) malformed('a record data runs past the end of the message', p);
    if (i >= skipped && u16(buf, p) === RR_TYPE.OPT) {
      if (edns) malformed('a second OPT record', at);
      if (p !== at + 1 || buf[at] !== 0) malformed('an OPT record whose owner is not the root', at);
      edns = readOpt(buf, p, rdEnd, true).edns;
    }
    p = rdEnd;
  }
  const q: Query = { id: errId, opcode: errOpcode, rd: errRd, cd: errCd, question };
  if (edns) q.edns = edns;
  return q;
}

/** Types of RFC 1035 whose rdata holds names that may be compressed: [prefix bytes, names]. */
const RFC1035_NAME_TYPES = new Map<number, readonly [number, number]>([
  [RR_TYPE.NS, [0, 1]],
  [3, [0, 1]], // MD
  [4, [0, 1]], // MF
  [7, [0, 1]], // MB
  [8, [0, 1]], // MG
  [9, [0, 1]], // MR
  [14, [0, 2]], // MINFO
  [RR_TYPE.MX, [2, 1]],
]);

const words = new Uint16Array(8);

function readData(buf: Uint8Array, type: number, cls: number, p: number, rdEnd: number): RecordData {
  const len = rdEnd - p;
  switch (type) {
    case RR_TYPE.A:
      if (cls !== CLASS_IN) break;
      if (len !== 4) malformed(`an A record of ${len} bytes`, p);
      return { kind: 'a', address: formatV4(u32(buf, p)) };
    case RR_TYPE.AAAA:
      if (cls !== CLASS_IN) break;
      if (len !== 16) malformed(`an AAAA record of ${len} bytes`, p);
      for (let i = 0; i < 8; i++) words[i] = u16(buf, p + 2 * i);
      return { kind: 'aaaa', address: formatV6(words) };
    case RR_TYPE.CNAME:
    case RR_TYPE.PTR: {
      const name = readName(buf, p, false);
      if (nameEnd !== rdEnd) malformed('a name that does not fill its record data', p);
      return type === RR_TYPE.PTR ? { kind: 'ptr', name } : { kind: 'cname', name };
    }
    case RR_TYPE.SRV: {
      if (len < 7) malformed(`an SRV record of ${len} bytes`, p);
      const target = readName(buf, p + 6, false);
      if (nameEnd !== rdEnd) malformed('an SRV target that does not fill its record data', p);
      return { kind: 'srv', priority: u16(buf, p), weight: u16(buf, p + 2), port: u16(buf, p + 4), target };
    }
    case RR_TYPE.SOA: {
      const mname = readName(buf, p, false);
      const rname = readName(buf, nameEnd, false);
      if (nameEnd + 20 !== rdEnd) malformed('an SOA record whose counters do not fill its record data', p);
      const c = nameEnd;
      return {
        kind: 'soa',
        mname,
        rname,
        serial: u32(buf, c),
        refresh: u32(buf, c + 4),
        retry: u32(buf, c + 8),
        expire: u32(buf, c + 12),
        minimum: u32(buf, c + 16),
      };
    }
  }
  const layout = RFC1035_NAME_TYPES.get(type);
  if (layout === undefined) return { kind: 'raw', bytes: new Uint8Array(buf.subarray(p, rdEnd)) }; // a copy: the input may be a reused socket buffer
  // RFC 3597 4: the names in RFC 1035's own types may be compressed, so raw bytes of them
  // would point into this message; they are kept decompressed, valid in any message.
  const [prefix, names] = layout;
  if (len < prefix + names) malformed(`a record of type ${type} of ${len} bytes`, p);
  const parts: Uint8Array[] = [buf.subarray(p, p + prefix)];
  let at = p + prefix;
  let total = prefix;
  for (let i = 0; i < names; i++) {
    readName(buf, at, true);
    parts.push(nameWire.slice(0, nameWireLen));
    total += nameWireLen;
    at = nameEnd;
  }
  if (at !== rdEnd) malformed(`a record of type ${type} whose names do not fill its record data`, p);
  const bytes = new Uint8Array(total);
  let o = 0;
  for (const part of parts) {
    bytes.set(part, o);
    o += part.length;
  }
  return { kind: 'raw', bytes };
}

/**
 * Decodes a response (an upstream server's answer, to relay): all four sections, A, AAAA,
 * CNAME, PTR, SRV and SOA data decoded, others kept as raw rdata (names in RFC 1035's own
 * types decompressed, any other type's bytes as sent). The OPT record becomes `edns` and its
 * extended rcode bits join the rcode. A TTL with the top bit set reads as 0 (RFC 2181 8).
 */
export function decodeResponse(buf: Uint8Array): Response {
  const flags = readHeader(buf);
  if ((flags & 0x8000) === 0) malformed('the QR bit is clear: a query, not a response', 2);
  const qd = u16(buf, 4);
  if (qd > 1) malformed(`QDCOUNT ${qd}: a response echoes at most one question`, 4);
  let question: Question | undefined;
  let p = HEADER_LEN;
  if (qd === 1) {
    question = readQuestion(buf);
    p = nameEnd;
  }
  const counts = [u16(buf, 6), u16(buf, 8), u16(buf, 10)] as const;
  const sections: [ResourceRecord[], ResourceRecord[], ResourceRecord[]] = [[], [], []];
  let edns: Edns | undefined;
  let extRcode = 0;
  const n = buf.length;
  for (let s = 0; s < 3; s++) {
    const list = sections[s]!;
    for (let i = 0; i < counts[s]!; i++) {
      const at = p;
      const name = readName(buf, p, false);
      p = nameEnd;
      if (p + 10 > n) malformed('a record cut short', p);
      const type = u16(buf, p);
      const cls = u16(buf, p + 2);
      const rdEnd = p + 10 + u16(buf, p + 8);
      if (rdEnd > n) malformed('a record data runs past the end of the message', p);
      if (type === RR_TYPE.OPT) {
        if (s !== 2) malformed('an OPT record outside the additional section', at);
        if (edns) malformed('a second OPT record', at);
        if (name !== '') malformed('an OPT record whose owner is not the root', at);
        const opt = readOpt(buf, p, rdEnd, false);
        edns = opt.edns;
        extRcode = opt.extRcode;
      } else {
        const ttl = u32(buf, p + 4);
        list.push({ name, type, class: cls, ttl: ttl > 0x7fffffff ? 0 : ttl, data: readData(buf, type, cls, p + 10, rdEnd) });
      }
      p = rdEnd;
    }
  }
  const r: Response = {
    id: errId,
    opcode: errOpcode,
    rcode: (extRcode << 4) | (flags & 0xf),
    aa: (flags & 0x0400) !== 0,
    rd: errRd,
    ra: (flags & 0x0080) !== 0,
    cd: errCd,
    tc: (flags & 0x0200) !== 0,
    question,
    answers: sections[0],
    authority: sections[1],
    additional: sections[2],
  };
  if (edns) r.edns = edns;
  return r;
}
