/**
 * The cluster CA: a self-signed ECDSA P-256 root made at cluster init, and node
 * certificates signed by it.
 *
 * Every TCP connection to the manager is mutually authenticated with these, so the manager
 * knows which node speaks from the certificate alone. What certificates name (CN, OU, O),
 * node key pairs and the CA digest of join tokens are in src/api/certificates.ts, shared
 * with the agents; only signing and reading a verified peer live here.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import type { NodeRole } from '../api/api-types.ts';
import { caDigest, MANAGER_DNS_NAME, ROLE_UNITS, roleOfUnit } from '../api/certificates.ts';
import type { NodeIdentity } from '../api/certificates.ts';
import { apiError } from '../api/errors.ts';
import { buildCertificate } from './x509.ts';

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
    throw apiError('SHOAL_ERR_BAD_SPEC', `the node's public key is not a PEM public key: ${(err as Error).message}`, {}, err);
  }
  if (publicKey.asymmetricKeyType !== 'ec' && publicKey.asymmetricKeyType !== 'rsa' && publicKey.asymmetricKeyType !== 'ed25519') {
    throw apiError('SHOAL_ERR_BAD_SPEC', `unsupported node key type ${String(publicKey.asymmetricKeyType)}`);
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
