/**
 * Just enough DER to build X.509 v3 certificates with ECDSA P-256 keys.
 *
 * Node can parse certificates (crypto.X509Certificate) but not make them, and the cluster CA
 * must issue node certificates itself (no openssl binary at run time). A certificate is a
 * signed TBSCertificate: version, serial, algorithm, issuer and subject names, validity,
 * the subject's public key (SPKI, as Node exports it) and extensions. We encode exactly
 * the fields shoal uses and sign with node:crypto.
 */
import { createHash, randomBytes, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { ipToBytes } from '../common/ip.ts';

// ----------------------------------------------------------------------- DER primitives

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, value: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), len(value.length), value]);
}

const seq = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat(items));
const explicit = (n: number, inner: Buffer): Buffer => tlv(0xa0 + n, inner);
const octets = (b: Buffer): Buffer => tlv(0x04, b);
const utf8 = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));
const bool = (v: boolean): Buffer => tlv(0x01, Buffer.from([v ? 0xff : 0x00]));

function integer(bytes: Buffer): Buffer {
  let b = bytes;
  let i = 0;
  while (i < b.length - 1 && b[i] === 0 && (b[i + 1]! & 0x80) === 0) i++;
  b = b.subarray(i);
  if ((b[0]! & 0x80) !== 0) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}

function bitString(b: Buffer, unusedBits = 0): Buffer {
  return tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), b]));
}

function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const out: number[] = [40 * arcs[0]! + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const chunk: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

function time(d: Date): Buffer {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const compact = iso.slice(0, 19).replace(/[-:T]/g, '') + 'Z';
  // RFC 5280: UTCTime through 2049, GeneralizedTime from 2050.
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(compact.slice(2), 'ascii')) : tlv(0x18, Buffer.from(compact, 'ascii'));
}

// ----------------------------------------------------------------------- certificate

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  organizationalUnit: '2.5.4.11',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyId: '2.5.29.14',
  authorityKeyId: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

export interface DistinguishedName {
  /** O */
  organization?: string;
  /** OU */
  organizationalUnit?: string;
  /** CN */
  commonName: string;
}

function name(dn: DistinguishedName): Buffer {
  const rdns: Buffer[] = [];
  if (dn.organization !== undefined) rdns.push(set(seq(oid(OID.organization), utf8(dn.organization))));
  if (dn.organizationalUnit !== undefined) rdns.push(set(seq(oid(OID.organizationalUnit), utf8(dn.organizationalUnit))));
  rdns.push(set(seq(oid(OID.commonName), utf8(dn.commonName))));
  return seq(...rdns);
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));
}

/** SHA-1 of the subjectPublicKey bits (RFC 5280 method 1), from an SPKI DER. */
function keyId(spkiDer: Buffer): Buffer {
  // SPKI = SEQUENCE { AlgorithmIdentifier, BIT STRING }; hash the whole SPKI instead: still a
  // stable, unique identifier, which is all the extension requires.
  return createHash('sha1').update(spkiDer).digest();
}

export interface CertificateRequest {
  subject: DistinguishedName;
  issuer: DistinguishedName;
  /** The subject's public key. */
  publicKey: KeyObject;
  /** The issuer's public key (for the authority key identifier); the subject's when self-signed. */
  issuerPublicKey: KeyObject;
  /** The key that signs (the issuer's private key). */
  signingKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
  isCa: boolean;
  /** Subject alternative names: IP addresses and DNS names. */
  altNames?: { ips?: readonly string[]; dns?: readonly string[] };
}

/** Builds and signs a certificate; returns it in PEM. */
export function buildCertificate(req: CertificateRequest): string {
  const spki = req.publicKey.export({ type: 'spki', format: 'der' });
  const issuerSpki = req.issuerPublicKey.export({ type: 'spki', format: 'der' });
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  const algorithm = seq(oid(OID.ecdsaWithSha256));
  const exts: Buffer[] = [
    extension(OID.basicConstraints, true, req.isCa ? seq(bool(true)) : seq()),
    // CA: keyCertSign + cRLSign (0x06, 1 unused bit); leaf: digitalSignature + keyEncipherment (0xa0, 5 unused bits)
    extension(OID.keyUsage, true, req.isCa ? bitString(Buffer.from([0x06]), 1) : bitString(Buffer.from([0xa0]), 5)),
    extension(OID.subjectKeyId, false, octets(keyId(spki))),
    extension(OID.authorityKeyId, false, seq(tlv(0x80, keyId(issuerSpki)))),
  ];
  if (!req.isCa) exts.push(extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth), oid(OID.clientAuth))));
  const sans: Buffer[] = [];
  for (const dns of req.altNames?.dns ?? []) sans.push(tlv(0x82, Buffer.from(dns, 'ascii')));
  for (const ip of req.altNames?.ips ?? []) sans.push(tlv(0x87, ipToBytes(ip, 'certificate IP address')));
  if (sans.length > 0) exts.push(extension(OID.subjectAltName, false, seq(...sans)));

  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))),
    integer(serial),
    algorithm,
    name(req.issuer),
    seq(time(req.notBefore), time(req.notAfter)),
    name(req.subject),
    spki,
    explicit(3, seq(...exts)),
  );
  const signature = sign('sha256', tbs, req.signingKey);
  const der = seq(tbs, algorithm, bitString(signature));
  const b64 = der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}
