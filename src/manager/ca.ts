/**
 * The cluster CA: a self-signed ECDSA P-256 root made at cluster init, and node
 * certificates signed by it.
 *
 * A node certificate names the node: CN = node ID, OU = "shoal-worker" or "shoal-manager"
 * (the role it was issued for), O = cluster ID. Every TCP connection to the manager is
 * mutually authenticated with these, so the manager knows which node speaks from the
 * certificate alone. A node makes its own key pair and sends only the public key with its
 * join token; its private key never leaves the node.
 *
 * The CA digest in join tokens is the SHA-256 of the root certificate's DER, written in
 * base 36 and padded to 50 characters (Docker's shape), so a joining node can check that
 * the manager it reached holds the CA the token was made for before trusting it.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { ShoalError } from '../common/errors.ts';
import type { NodeRole } from './api-types.ts';
import { managerError } from './errors.ts';
import { buildCertificate } from './x509.ts';

export const ROLE_UNITS: Readonly<Record<NodeRole, string>> = { worker: 'shoal-worker', manager: 'shoal-manager' };
/** DNS name every manager certificate carries (clients check the role, not the dialled address). */
export const MANAGER_DNS_NAME = 'shoal-manager';
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

export interface KeyPairPem {
  keyPem: string;
  publicKeyPem: string;
}

/** A fresh P-256 key pair (PKCS#8 and SPKI PEM). */
export function generateNodeKey(): KeyPairPem {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** SHA-256 of the certificate's DER in base 36, 50 characters. */
export function caDigest(certPem: string): string {
  const der = new X509Certificate(certPem).raw;
  const hex = createHash('sha256').update(der).digest('hex');
  return BigInt(`0x${hex}`).toString(36).padStart(50, '0');
}

/** Lowercase hex SHA-256 of a certificate's DER. */
export function certificateFingerprint(certPem: string): string {
  return createHash('sha256').update(new X509Certificate(certPem).raw).digest('hex');
}

export function createRootCa(clusterId: string, nowMs: number): CaMaterial {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const dn = { organization: clusterId, organizationalUnit: 'shoal-ca', commonName: 'shoal-root-ca' };
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
    throw managerError('SHOAL_ERR_BAD_SPEC', `the node's public key is not a PEM public key: ${(err as Error).message}`, {}, err);
  }
  if (publicKey.asymmetricKeyType !== 'ec' && publicKey.asymmetricKeyType !== 'rsa' && publicKey.asymmetricKeyType !== 'ed25519') {
    throw managerError('SHOAL_ERR_BAD_SPEC', `unsupported node key type ${String(publicKey.asymmetricKeyType)}`);
  }
  const caKey = createPrivateKey(ca.keyPem);
  const caCert = new X509Certificate(ca.certPem);
  return buildCertificate({
    subject: { organization: req.clusterId, organizationalUnit: ROLE_UNITS[req.role], commonName: req.nodeId },
    issuer: { organization: req.clusterId, organizationalUnit: 'shoal-ca', commonName: 'shoal-root-ca' },
    publicKey,
    issuerPublicKey: caCert.publicKey,
    signingKey: caKey,
    notBefore: new Date(req.nowMs - BACKDATE_MS),
    notAfter: new Date(req.nowMs + req.validityMs),
    isCa: false,
    altNames: { dns: req.role === 'manager' ? [MANAGER_DNS_NAME, 'localhost'] : ['localhost'], ips: req.ips ?? [] },
  });
}

export interface NodeIdentity {
  nodeId: string;
  role: NodeRole;
  clusterId: string;
}

/** Reads the identity out of a verified peer certificate (as grpc-js reports it). */
export function identityOfPeer(cert: PeerCertificate): NodeIdentity {
  const subject = cert.subject as unknown as Record<string, string | string[] | undefined>;
  const first = (v: string | string[] | undefined): string => (Array.isArray(v) ? (v[0] ?? '') : (v ?? ''));
  const ou = first(subject['OU']);
  const role: NodeRole | undefined = ou === ROLE_UNITS.manager ? 'manager' : ou === ROLE_UNITS.worker ? 'worker' : undefined;
  const nodeId = first(subject['CN']);
  if (!role || nodeId === '') {
    throw managerError('SHOAL_ERR_UNAUTHENTICATED', 'the client certificate is not a shoal node certificate');
  }
  return { nodeId, role, clusterId: first(subject['O']) };
}

/** Reads the identity out of a PEM certificate (an agent's own). */
export function identityOfCertificate(certPem: string): NodeIdentity & { fingerprint: string; validTo: string } {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    throw new ShoalError('SHOAL_ERR_CERTIFICATE', `not a certificate: ${(err as Error).message}`, { cause: err });
  }
  const fields = Object.fromEntries(
    cert.subject.split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
  const ou = fields['OU'] ?? '';
  const role: NodeRole | undefined = ou === ROLE_UNITS.manager ? 'manager' : ou === ROLE_UNITS.worker ? 'worker' : undefined;
  if (!role) throw new ShoalError('SHOAL_ERR_CERTIFICATE', 'not a shoal node certificate');
  return {
    nodeId: fields['CN'] ?? '',
    role,
    clusterId: fields['O'] ?? '',
    fingerprint: certificateFingerprint(certPem),
    validTo: cert.validTo,
  };
}
