/**
 * X.509 v3 certificates with ECDSA P-256 keys, built with the DER of src/api/der.ts.
 *
 * Node can parse certificates (crypto.X509Certificate) but not make them, and the cluster CA
 * must issue node certificates itself (no openssl binary at run time). A certificate is a
 * signed TBSCertificate: version, serial, algorithm, issuer and subject names, validity,
 * the subject's public key (SPKI, as Node exports it) and extensions. We encode exactly
 * the fields shoal uses and sign with node:crypto.
 */
import { createHash, randomBytes, sign, X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import {
  bitString,
  bool,
  childrenOf,
  explicit,
  integer,
  octets,
  oid,
  pem,
  rawOf,
  readRoot,
  seq,
  set,
  time,
  tlv,
  utf8,
} from '../api/der.ts';
import { ipToBytes } from '../common/ip.ts';

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

/**
 * The subject Name of a certificate, as its DER bytes. A certificate's issuer must match its
 * issuer's subject byte for byte, so issuing copies the CA's name rather than rebuilding it.
 */
export function subjectNameDer(certPem: string): Buffer {
  const der = new X509Certificate(certPem).raw;
  const tbs = childrenOf(der, childrenOf(der, readRoot(der))[0]!);
  // TBSCertificate: [0] version, serial, signature algorithm, issuer, validity, subject, ...
  const offset = tbs[0]!.tag === 0xa0 ? 1 : 0;
  return Buffer.from(rawOf(der, tbs[offset + 4]!));
}

export interface CertificateRequest {
  /** A name to build, or the DER of one (a re-signed CA keeps its own name). */
  subject: DistinguishedName | Buffer;
  /** A name to build, or the DER of the issuer's subject (subjectNameDer). */
  issuer: DistinguishedName | Buffer;
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
    Buffer.isBuffer(req.issuer) ? req.issuer : name(req.issuer),
    seq(time(req.notBefore), time(req.notAfter)),
    Buffer.isBuffer(req.subject) ? req.subject : name(req.subject),
    spki,
    explicit(3, seq(...exts)),
  );
  const signature = sign('sha256', tbs, req.signingKey);
  return pem('CERTIFICATE', seq(tbs, algorithm, bitString(signature)));
}
