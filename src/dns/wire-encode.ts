/**
 * The encoding half of the wire codec (used through wire.ts): a Response or a Query to the
 * bytes of RFC 1035 4.1.
 *
 * Messages are written into one preallocated scratch buffer (the codec is synchronous, so
 * one is enough) and copied out once. Names are compressed against a table of the suffixes
 * written so far (name text -> offset below 0x4000), for owner names and for the names in
 * the rdata of RFC 1035's own types (CNAME, PTR, SOA); an SRV target is written whole, as
 * RFC 2782 asks, though later names may point into it. Name text is read as wire.ts writes
 * it: a trailing dot allowed, `\DDD` and `\X` escapes, characters 0-255 only.
 *
 * Truncation: a response that does not fit the byte budget keeps the longest prefix of
 * answers, then authority, then additional records that fits, i.e. records are dropped from
 * the end, additional first, then authority, then answers: the answers are what the client
 * asked for, the authority section (SOA of a negative answer) is what lets it cache a
 * negative answer, and the additional records are only helpful extras (addresses of SRV
 * targets) that it can ask for. The OPT record is always kept (room for it is reserved), so
 * the client still learns our payload size. TC is set when an answer or authority record was
 * dropped; dropping additional records alone does not set it (RFC 2181 9: TC means that
 * required data is missing, and a client receiving TC would retry over TCP for nothing).
 */
import { parseV4, parseV6 } from '../common/ip.ts';
import { dnsError } from './errors.ts';
import type { Edns, Query, Question, ResourceRecord, Response } from './message.ts';
import { RR_TYPE } from './message.ts';

/** RFC 1035 2.3.4: a name is at most 255 bytes on the wire, root byte included. */
const MAX_NAME_WIRE = 255;
/** Offsets a compression pointer can hold (14 bits). */
const POINTER_RANGE = 0x4000;
/** The largest message: TCP's 16-bit length (and the largest UDP payload). */
const MAX_MESSAGE = 65535;
/** RFC 1035 4.2.1 / RFC 6891 6.2.5: a UDP payload size below 512 is read as 512. */
const MIN_UDP_PAYLOAD = 512;
/** An OPT record without options: root name, type, class, ttl, rdlength. */
const OPT_LEN = 11;

function bad(message: string, details: Record<string, unknown> = {}): never {
  throw dnsError('SHOAL_ERR_DNS_BAD_MESSAGE', `cannot encode DNS message: ${message}`, details);
}

const words = new Uint16Array(8);

/**
 * The scratch a message is written into: the largest message, plus room for the one record
 * that crosses the budget before it is taken back (a name, its fixed fields, 64 KiB of
 * rdata), plus the OPT record.
 */
const out = new Uint8Array(MAX_MESSAGE + MAX_NAME_WIRE + 10 + MAX_MESSAGE + OPT_LEN + 64);
let w = 0;
/**
 * The suffixes written so far in this message: name text -> offset + 0x10000 * its wire
 * length. The first few live in two small arrays scanned in order (a typical answer has a
 * handful of names, and clearing a Map per message costs more than the scan); the rest in a
 * Map, used only by messages with many names.
 */
const SMALL_SUFFIXES = 16;
const smallKeys: string[] = new Array<string>(SMALL_SUFFIXES).fill('');
const smallValues = new Int32Array(SMALL_SUFFIXES);
let smallCount = 0;
const moreSuffixes = new Map<string, number>();

function findSuffix(key: string): number {
  for (let i = 0; i < smallCount; i++) if (smallKeys[i] === key) return smallValues[i]!;
  return smallCount < SMALL_SUFFIXES ? -1 : (moreSuffixes.get(key) ?? -1);
}

function addSuffix(key: string, value: number): void {
  if (smallCount < SMALL_SUFFIXES) {
    smallKeys[smallCount] = key;
    smallValues[smallCount++] = value;
  } else {
    moreSuffixes.set(key, value);
  }
}

function clearSuffixes(): void {
  if (smallCount === SMALL_SUFFIXES) moreSuffixes.clear();
  smallCount = 0;
}

const isU16 = (v: number): boolean => (v & 0xffff) === v;
const isU32 = (v: number): boolean => v >>> 0 === v;

function put16(v: number): void {
  out[w] = v >>> 8;
  out[w + 1] = v & 0xff;
  w += 2;
}

function put32(v: number): void {
  out[w] = v >>> 24;
  out[w + 1] = (v >>> 16) & 0xff;
  out[w + 2] = (v >>> 8) & 0xff;
  out[w + 3] = v & 0xff;
  w += 4;
}

/** How writeName treats the suffix map: ignore it, only add to it, or also point into it. */
const NO_COMPRESSION = 0;
const REGISTER = 1;
const COMPRESS = 2;

/**
 * Writes a name from its text (lower-case or not, escapes read, a trailing dot allowed).
 * With COMPRESS, the longest suffix written before becomes a pointer.
 */
function writeName(name: string, mode: number): void {
  let n = name.length;
  if (n > 0 && name.charCodeAt(n - 1) === 0x2e && !escapedAt(name, n - 1)) n--;
  const start = w;
  let i = 0;
  while (i < n) {
    if (mode !== NO_COMPRESSION) {
      const key = i === 0 && n === name.length ? name : name.slice(i, n);
      if (mode === COMPRESS) {
        const hit = findSuffix(key);
        if (hit >= 0) {
          if (w - start + (hit >>> 16) > MAX_NAME_WIRE) bad(`name ${name} is longer than 255 bytes`);
          const off = hit & 0xffff;
          out[w] = 0xc0 | (off >>> 8);
          out[w + 1] = off & 0xff;
          w += 2;
          return;
        }
      }
      if (w < POINTER_RANGE) addSuffix(key, w + 0x10000 * wireLength(name, i, n));
    }
    const lenAt = w++;
    while (i < n) {
      let c = name.charCodeAt(i);
      if (c === 0x2e) break;
      if (c === 0x5c) {
        if (i + 1 >= n) bad(`name ${name} ends in a backslash`);
        const d0 = name.charCodeAt(i + 1) - 48;
        if (d0 >= 0 && d0 <= 9) {
          const d1 = name.charCodeAt(i + 2) - 48;
          const d2 = name.charCodeAt(i + 3) - 48;
          c = d0 * 100 + d1 * 10 + d2;
          if (i + 3 >= n || !(d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9) || c > 255) bad(`name ${name} has a bad \\DDD escape`);
          i += 4;
        } else {
          c = d0 + 48;
          i += 2;
        }
      } else {
        i++;
      }
      if (c > 0xff) bad(`name ${name} holds a character outside 0-255 (IDNA names are written as A-labels)`);
      out[w++] = c;
    }
    const len = w - lenAt - 1;
    if (len === 0) bad(`name ${name} has an empty label`);
    if (len > 63) bad(`name ${name} has a label longer than 63 bytes`);
    out[lenAt] = len;
    if (w - start + 1 > MAX_NAME_WIRE) bad(`name ${name} is longer than 255 bytes`);
    if (i < n) {
      i++; // the dot
      if (i === n) bad(`name ${name} has an empty label`);
    }
  }
  out[w++] = 0;
}

/** Whether name[i] is escaped by an odd number of backslashes before it. */
function escapedAt(name: string, i: number): boolean {
  let k = i - 1;
  while (k >= 0 && name.charCodeAt(k) === 0x5c) k--;
  return (i - 1 - k) % 2 === 1;
}

/**
 * The wire length of name[from, to) (labels and root byte), for the suffix map: one length
 * byte per label plus its bytes, escapes counted as one byte. Malformed text is refused by
 * the writer right after, so this only has to be right for good names.
 */
function wireLength(name: string, from: number, to: number): number {
  let len = 2; // the first label's length byte and the root
  for (let i = from; i < to; i++) {
    const c = name.charCodeAt(i);
    if (c === 0x5c) {
      i += name.charCodeAt(i + 1) >= 48 && name.charCodeAt(i + 1) <= 57 ? 3 : 1;
      len++;
    } else {
      len++;
    }
  }
  return len;
}

const RECORD_TYPE_OF_KIND = {
  a: RR_TYPE.A,
  aaaa: RR_TYPE.AAAA,
  ptr: RR_TYPE.PTR,
  cname: RR_TYPE.CNAME,
  srv: RR_TYPE.SRV,
  soa: RR_TYPE.SOA,
} as const;

function writeRecord(rr: ResourceRecord): void {
  const d = rr.data;
  if (d.kind === 'raw' ? rr.type === RR_TYPE.OPT : rr.type !== RECORD_TYPE_OF_KIND[d.kind]) {
    bad(
      rr.type === RR_TYPE.OPT ? 'an OPT record among the records (EDNS goes in edns)' : `a record of type ${rr.type} with ${d.kind} data`,
      { name: rr.name },
    );
  }
  if (!isU16(rr.type) || !isU16(rr.class) || !isU32(rr.ttl))
    bad(`record ${rr.name} has a type, class or TTL out of range`, { name: rr.name });
  writeName(rr.name, COMPRESS);
  put16(rr.type);
  put16(rr.class);
  put32(rr.ttl);
  const lenAt = w;
  w += 2;
  switch (d.kind) {
    case 'a': {
      const v = parseV4(d.address);
      if (v < 0) bad(`A record ${rr.name} has address ${d.address}`, { name: rr.name });
      put32(v);
      break;
    }
    case 'aaaa':
      if (!parseV6(d.address, words)) bad(`AAAA record ${rr.name} has address ${d.address}`, { name: rr.name });
      for (let i = 0; i < 8; i++) put16(words[i]!);
      break;
    case 'ptr':
    case 'cname':
      writeName(d.name, COMPRESS);
      break;
    case 'srv':
      if (!isU16(d.priority) || !isU16(d.weight) || !isU16(d.port))
        bad(`SRV record ${rr.name} has a field out of range`, { name: rr.name });
      put16(d.priority);
      put16(d.weight);
      put16(d.port);
      writeName(d.target, REGISTER);
      break;
    case 'soa':
      if (!isU32(d.serial) || !isU32(d.refresh) || !isU32(d.retry) || !isU32(d.expire) || !isU32(d.minimum)) {
        bad(`SOA record ${rr.name} has a counter out of range`, { name: rr.name });
      }
      writeName(d.mname, COMPRESS);
      writeName(d.rname, COMPRESS);
      put32(d.serial);
      put32(d.refresh);
      put32(d.retry);
      put32(d.expire);
      put32(d.minimum);
      break;
    case 'raw':
      if (d.bytes.length > MAX_MESSAGE) bad(`record ${rr.name} has ${d.bytes.length} bytes of data`, { name: rr.name });
      out.set(d.bytes, w);
      w += d.bytes.length;
      break;
  }
  const len = w - lenAt - 2;
  if (len > MAX_MESSAGE) bad(`record ${rr.name} has ${len} bytes of data`, { name: rr.name });
  out[lenAt] = len >>> 8;
  out[lenAt + 1] = len & 0xff;
}

function writeHeader(id: number, flags: number, qd: number): void {
  if (!isU16(id)) bad(`id ${id} is out of range`);
  w = 0;
  clearSuffixes();
  put16(id);
  put16(flags);
  put16(qd);
  put32(0); // ANCOUNT, NSCOUNT: patched
  put16(0); // ARCOUNT: patched
}

function writeQuestion(q: Question): void {
  if (!isU16(q.type) || !isU16(q.class)) bad(`question ${q.name} has a type or class out of range`);
  writeName(q.name, COMPRESS);
  put16(q.type);
  put16(q.class);
}

function writeOpt(e: Edns, extRcode: number): void {
  if (!isU16(e.udpPayloadSize)) bad(`EDNS payload size ${e.udpPayloadSize} is out of range`);
  out[w++] = 0;
  put16(RR_TYPE.OPT);
  put16(e.udpPayloadSize);
  out[w++] = extRcode;
  out[w++] = 0; // version 0
  put16(e.dnssecOk ? 0x8000 : 0);
  put16(0);
}

function finish(): Uint8Array {
  const msg = Buffer.allocUnsafe(w);
  msg.set(out.subarray(0, w));
  return msg;
}

function checkOpcode(opcode: number): void {
  if ((opcode & 0xf) !== opcode) bad(`opcode ${opcode} is out of range`);
}

/**
 * Encodes a response within `limit` bytes (512 for plain UDP, the client's EDNS payload size
 * for EDNS over UDP, 65535 for TCP; read as at least 512 and at most 65535): QR set, the
 * question echoed, names compressed, the OPT record written when `r.edns` is set. What does
 * not fit is dropped as the module header says, whole records only, and TC set then.
 */
export function encodeResponse(r: Response, limit: number): Uint8Array {
  checkOpcode(r.opcode);
  if (!(r.rcode >= 0 && r.rcode <= 4095 && Number.isInteger(r.rcode))) bad(`rcode ${r.rcode} is out of range`);
  if (r.rcode > 15 && !r.edns) bad(`rcode ${r.rcode} needs EDNS (its upper bits travel in the OPT record)`);
  const budget = Math.min(MAX_MESSAGE, Math.max(MIN_UDP_PAYLOAD, Math.floor(limit) || MIN_UDP_PAYLOAD));
  const flags =
    0x8000 |
    (r.opcode << 11) |
    (r.aa ? 0x0400 : 0) |
    (r.tc ? 0x0200 : 0) |
    (r.rd ? 0x0100 : 0) |
    (r.ra ? 0x0080 : 0) |
    (r.cd ? 0x0010 : 0) |
    (r.rcode & 0xf);
  writeHeader(r.id, flags, r.question ? 1 : 0);
  if (r.question) writeQuestion(r.question);
  const room = budget - (r.edns ? OPT_LEN : 0);
  const counts = [0, 0, 0];
  let truncated = false;
  const sections = [r.answers, r.authority, r.additional];
  for (let s = 0; s < 3 && !truncated; s++) {
    const list = sections[s]!;
    for (let i = 0; i < list.length; i++) {
      const at = w;
      writeRecord(list[i]!);
      if (w > room) {
        // Taken back whole; the suffixes it added point past the end but nothing but the
        // OPT record (the root, never compressed) is written after it.
        w = at;
        truncated = true;
        if (s < 2) out[2]! |= 0x02;
        break;
      }
      counts[s]!++;
    }
  }
  out[6] = counts[0]! >>> 8;
  out[7] = counts[0]! & 0xff;
  out[8] = counts[1]! >>> 8;
  out[9] = counts[1]! & 0xff;
  const ar = counts[2]! + (r.edns ? 1 : 0);
  out[10] = ar >>> 8;
  out[11] = ar & 0xff;
  if (r.edns) writeOpt(r.edns, r.rcode >>> 4);
  return finish();
}

/** Encodes a query to send upstream: one question, uncompressed, and an OPT record when `q.edns` is set. */
export function encodeQuery(q: Query): Uint8Array {
  checkOpcode(q.opcode);
  writeHeader(q.id, (q.opcode << 11) | (q.rd ? 0x0100 : 0) | (q.cd ? 0x0010 : 0), 1);
  writeQuestion(q.question);
  if (q.edns) {
    out[11] = 1;
    writeOpt(q.edns, 0);
  }
  return finish();
}
