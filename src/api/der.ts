/**
 * Just enough DER (X.690) to write and read the certificates and certificate signing
 * requests shoal makes: definite-length TLVs, the few universal types X.509 and PKCS#10
 * use, and a strict reader that walks a structure without interpreting it.
 *
 * Shared by the manager (src/manager/x509.ts signs certificates) and the agents
 * (src/api/csr.ts builds requests), so it lives below both. Node parses certificates
 * (crypto.X509Certificate) but neither writes them nor reads requests, and no openssl
 * binary is assumed at run time.
 */
import { apiError } from './errors.ts';

// ----------------------------------------------------------------------- writing

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, value: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), len(value.length), value]);
}

export const seq = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
export const set = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat(items));
export const explicit = (n: number, inner: Buffer): Buffer => tlv(0xa0 + n, inner);
export const octets = (b: Buffer): Buffer => tlv(0x04, b);
export const utf8 = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));
export const bool = (v: boolean): Buffer => tlv(0x01, Buffer.from([v ? 0xff : 0x00]));

/** A non-negative INTEGER from big-endian bytes (minimal, with a leading zero when the top bit is set). */
export function integer(bytes: Buffer): Buffer {
  let b = bytes;
  let i = 0;
  while (i < b.length - 1 && b[i] === 0 && (b[i + 1]! & 0x80) === 0) i++;
  b = b.subarray(i);
  if ((b[0]! & 0x80) !== 0) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}

export function bitString(b: Buffer, unusedBits = 0): Buffer {
  return tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), b]));
}

export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const out: number[] = [40 * arcs[0]! + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const chunk: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

export function time(d: Date): Buffer {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const compact = `${iso.slice(0, 19).replace(/[-:T]/g, '')}Z`;
  // RFC 5280: UTCTime through 2049, GeneralizedTime from 2050.
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(compact.slice(2), 'ascii')) : tlv(0x18, Buffer.from(compact, 'ascii'));
}

/** Base64 PEM armour of DER bytes, 64 characters a line. */
export function pem(label: string, der: Buffer): string {
  const b64 = der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** The DER inside the first PEM block with this label; undefined when there is none. */
export function unpem(label: string, text: string): Buffer | undefined {
  const m = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`).exec(text);
  return m ? Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64') : undefined;
}

// ----------------------------------------------------------------------- reading

/** One TLV inside a buffer: its tag and where its header, value and end are. */
export interface DerNode {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first value byte. */
  valueStart: number;
  /** Offset just past the value. */
  end: number;
}

/** The bytes of a node, header included. */
export function rawOf(buf: Buffer, n: DerNode): Buffer {
  return buf.subarray(n.start, n.end);
}

/** The value bytes of a node. */
export function contentOf(buf: Buffer, n: DerNode): Buffer {
  return buf.subarray(n.valueStart, n.end);
}

function malformed(what: string): never {
  throw apiError('SHOAL_ERR_CSR_INVALID', `malformed DER: ${what}`);
}

/** Reads the TLV at `offset`, which must end by `limit`. Only definite lengths of up to 4 bytes (DER). */
export function readNode(buf: Buffer, offset = 0, limit = buf.length): DerNode {
  if (offset + 2 > limit) malformed('truncated header');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) malformed('multi-byte tags are not used here');
  let length = buf[offset + 1]!;
  let valueStart = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4) malformed('indefinite or oversized length');
    if (valueStart + count > limit) malformed('truncated length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buf[valueStart + i]!;
    if (length < 0x80 || buf[valueStart] === 0) malformed('length not in its shortest form');
    valueStart += count;
  }
  const end = valueStart + length;
  if (end > limit) malformed('value runs past its container');
  return { tag, start: offset, valueStart, end };
}

/** The TLVs directly inside a constructed node; they must fill it exactly. */
export function childrenOf(buf: Buffer, parent: DerNode): DerNode[] {
  if ((parent.tag & 0x20) === 0) malformed(`tag 0x${parent.tag.toString(16)} is not constructed`);
  const out: DerNode[] = [];
  for (let at = parent.valueStart; at < parent.end; ) {
    const n = readNode(buf, at, parent.end);
    out.push(n);
    at = n.end;
  }
  return out;
}

/** Reads a whole buffer as one TLV (no trailing bytes). */
export function readRoot(buf: Buffer): DerNode {
  const root = readNode(buf);
  if (root.end !== buf.length) malformed('trailing bytes after the structure');
  return root;
}

/** The dotted form of an OBJECT IDENTIFIER node. */
export function oidOf(buf: Buffer, n: DerNode): string {
  if (n.tag !== 0x06) malformed('expected an OBJECT IDENTIFIER');
  const v = contentOf(buf, n);
  if (v.length === 0) malformed('empty OBJECT IDENTIFIER');
  const arcs: number[] = [Math.floor(v[0]! / 40), v[0]! % 40];
  let acc = 0;
  for (const byte of v.subarray(1)) {
    acc = acc * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) {
      arcs.push(acc);
      acc = 0;
    }
  }
  return arcs.join('.');
}
