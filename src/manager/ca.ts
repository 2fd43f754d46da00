/**
 * The cluster CA: a self-signed ECDSA P-256 root made at cluster init (or given by the
 * operator at a rotation), node certificates signed by it, and the cross-signed copy of a
 * new root that lets nodes which trust only the old root accept the new one during a
 * rotation (ca-rotation.ts).
 *
 * Every TCP connection to the manager is mutually authenticated with these, so the manager
 * knows which node speaks from the certificate alone. What certificates name (CN, OU, O),
 * node key pairs and the CA digest of join tokens are in src/api/certificates.ts, shared
 * with the agents; only signing and reading a verified peer live here.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import type { NodeRole } from '../api/api-types.ts';
import { caDigest, MANAGER_DNS_NAME, ROLE_UNITS, roleOfUnit } from '../api/certificates.ts';
import type { NodeIdentity } from '../api/certificates.ts';
import { apiError } from '../api/errors.ts';
import { buildCertificate, subjectNameDer } from './x509.ts';

/** Root CA lifetime: 20 years (Docker's default). */
export const CA_VALIDITY_MS = 20 * 365 * 24 * 3600_000;
/** Certificates start a little in the past so that small clock skew between nodes does not reject them. */
const BACKDATE_MS = 60 * 60_000;

export interface CaMaterial {
  certPem: string;
  keyPem: string;
  /** The digest join tokens carry. */
  digest: string;
}

/**
 * A new self-signed root. The first root of a cluster is `shoal-root-ca`; later ones (a
 * rotation) carry a random suffix, so that two roots trusted side by side never share a
 * name (chain building matches issuers by name).
 */
export function createRootCa(clusterId: string, nowMs: number, options: { rotation?: boolean } = {}): CaMaterial {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const commonName = options.rotation ? `shoal-root-ca-${randomBytes(4).toString('hex')}` : 'shoal-root-ca';
  const dn = { organization: clusterId, organizationalUnit: 'shoal-ca', commonName };
  const certPem = buildCertificate({
    subject: dn,
    issuer: dn,
    publicKey,
    issuerPublicKey: publicKey,
    signingKey: privateKey,
    notBefore: new Date(nowMs - BACKDATE_MS),
    notAfter: new Date(nowMs + CA_VALIDITY_MS),
    isCa: true,
  });
  return { certPem, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), digest: caDigest(certPem) };
}

export interface NodeCertificateRequest {
  nodeId: string;
  role: NodeRole;
  clusterId: string;
  /** SPKI PEM of the node's key. */
  publicKeyPem: string;
  nowMs: number;
  validityMs: number;
  /** Addresses put in the subject alternative names (the node's advertise address). */
  ips?: readonly string[];
}

/** Signs a node certificate with the CA. */
export function issueNodeCertificate(ca: CaMaterial, req: NodeCertificateRequest): string {
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey(req.publicKeyPem);
  } catch (err) {
    throw apiError('SHOAL_ERR_BAD_SPEC', `the node's public key is not a PEM public key: ${(err as Error).message}`, {}, err);
  }
  if (publicKey.asymmetricKeyType !== 'ec' && publicKey.asymmetricKeyType !== 'rsa' && publicKey.asymmetricKeyType !== 'ed25519') {
    throw apiError('SHOAL_ERR_BAD_SPEC', `unsupported node key type ${String(publicKey.asymmetricKeyType)}`);
  }
  const caKey = createPrivateKey(ca.keyPem);
  const caCert = new X509Certificate(ca.certPem);
  const caEnd = Date.parse(caCert.validTo);
  return buildCertificate({
    subject: { organization: req.clusterId, organizationalUnit: ROLE_UNITS[req.role], commonName: req.nodeId },
    issuer: subjectNameDer(ca.certPem),
    publicKey,
    issuerPublicKey: caCert.publicKey,
    signingKey: caKey,
    notBefore: new Date(req.nowMs - BACKDATE_MS),
    // never past the CA's own end (a chain with an expired root verifies nowhere)
    notAfter: new Date(Math.min(req.nowMs + req.validityMs, caEnd)),
    isCa: false,
    altNames: { dns: req.role === 'manager' ? [MANAGER_DNS_NAME, 'localhost'] : ['localhost'], ips: req.ips ?? [] },
  });
}

/**
 * The new root's certificate re-signed by the old root: same name and key as the new root,
 * issued by the old one. A manager presents it after its own certificate during a
 * rotation, so a node that still trusts only the old root verifies the manager's new
 * certificate (leaf -> cross-signed new root -> old root).
 */
export function crossSignRoot(next: CaMaterial, previous: CaMaterial, nowMs: number): string {
  const nextCert = new X509Certificate(next.certPem);
  const prevCert = new X509Certificate(previous.certPem);
  return buildCertificate({
    subject: subjectNameDer(next.certPem),
    issuer: subjectNameDer(previous.certPem),
    publicKey: nextCert.publicKey,
    issuerPublicKey: prevCert.publicKey,
    signingKey: createPrivateKey(previous.keyPem),
    notBefore: new Date(nowMs - BACKDATE_MS),
    notAfter: new Date(Math.min(Date.parse(nextCert.validTo), Date.parse(prevCert.validTo))),
    isCa: true,
  });
}

/**
 * An operator's root CA (`swarm ca --rotate --ca-cert --ca-key`), checked: a CA
 * certificate valid now, with an ECDSA P-256 key (what x509.ts signs with) that is the
 * certificate's. SHOAL_ERR_BAD_CA otherwise.
 */
export function importRootCa(certPem: string, keyPem: string, nowMs: number): CaMaterial {
  let cert: X509Certificate;
  let key: KeyObject;
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    throw apiError('SHOAL_ERR_BAD_CA', `the CA certificate is not a PEM certificate: ${(err as Error).message}`, {}, err);
  }
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw apiError('SHOAL_ERR_BAD_CA', `the CA key is not a PEM private key: ${(err as Error).message}`, {}, err);
  }
  if (!cert.ca) throw apiError('SHOAL_ERR_BAD_CA', 'the certificate is not a CA certificate (basicConstraints CA:TRUE)');
  if (!cert.checkPrivateKey(key)) throw apiError('SHOAL_ERR_BAD_CA', "the key is not the CA certificate's key");
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw apiError('SHOAL_ERR_BAD_CA', 'the CA key must be an ECDSA P-256 key');
  }
  if (Date.parse(cert.validFrom) > nowMs || Date.parse(cert.validTo) <= nowMs) {
    throw apiError('SHOAL_ERR_BAD_CA', `the CA certificate is not valid now (${cert.validFrom} - ${cert.validTo})`);
  }
  const pemOut = cert.toString();
  return {
    certPem: pemOut.endsWith('\n') ? pemOut : `${pemOut}\n`,
    keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    digest: caDigest(pemOut),
  };
}

/** The digest of the root that signed a certificate, among the given roots; '' when none did. */
export function issuingRootDigest(certPem: string, roots: readonly { certPem: string; digest: string }[]): string {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    return '';
  }
  for (const r of roots) {
    const root = new X509Certificate(r.certPem);
    if (cert.checkIssued(root) && cert.verify(root.publicKey)) return r.digest;
  }
  return '';
}

/** Reads the identity out of a verified peer certificate (as grpc-js reports it). */
export function identityOfPeer(cert: PeerCertificate): NodeIdentity {
  const subject = cert.subject as unknown as Record<string, string | string[] | undefined>;
  const first = (v: string | string[] | undefined): string => (Array.isArray(v) ? (v[0] ?? '') : (v ?? ''));
  const role = roleOfUnit(first(subject['OU']));
  const nodeId = first(subject['CN']);
  if (!role || nodeId === '') {
    throw apiError('SHOAL_ERR_UNAUTHENTICATED', 'the client certificate is not a shoal node certificate');
  }
  return { nodeId, role, clusterId: first(subject['O']) };
}
