/**
 * What a node needs to know about shoal's certificates without being the CA: the names
 * certificates carry, its own key pair, the CA digest a join token names, and the identity
 * read back from a certificate. Signing stays with the manager (src/manager/ca.ts).
 *
 * A node certificate names the node: CN = node ID, OU = "shoal-worker" or "shoal-manager"
 * (the role it was issued for), O = cluster ID. A node makes its own key pair and sends a
 * certificate signing request signed with it (csr.ts) with its join token, and again for
 * each renewal; its private key never leaves the node.
 *
 * A node trusts a bundle of roots (ca.crt): the cluster's root, and during a root CA
 * rotation the previous one as well.
 *
 * The CA digest in join tokens is the SHA-256 of the root certificate's DER, written in
 * base 36 and padded to 50 characters (Docker's shape), so a joining node can check that
 * the manager it reached holds the CA the token was made for before trusting it.
 */
import { createHash, generateKeyPairSync, X509Certificate } from 'node:crypto';
import type { NodeRole } from './api-types.ts';
import { apiError } from './errors.ts';

/** The OU of a node certificate, by role. */
export const ROLE_UNITS: Readonly<Record<NodeRole, string>> = { worker: 'shoal-worker', manager: 'shoal-manager' };
/** DNS name every manager certificate carries (clients check the role, not the dialled address). */
export const MANAGER_DNS_NAME = 'shoal-manager';

export interface KeyPairPem {
  keyPem: string;
  publicKeyPem: string;
}

export interface NodeIdentity {
  nodeId: string;
  role: NodeRole;
  clusterId: string;
}

/** The role an OU names, or undefined when it is not a node certificate's. */
export function roleOfUnit(ou: string): NodeRole | undefined {
  return ou === ROLE_UNITS.manager ? 'manager' : ou === ROLE_UNITS.worker ? 'worker' : undefined;
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

/** The certificates of a PEM bundle, each as its own PEM block. */
export function splitPemCertificates(bundle: string): string[] {
  return [...bundle.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)].map((m) => `${m[0]}\n`);
}

/** Whether `certPem` was issued and signed by the CA certificate `caPem`. */
export function signedBy(certPem: string, caPem: string): boolean {
  try {
    const cert = new X509Certificate(certPem);
    const ca = new X509Certificate(caPem);
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  } catch {
    return false;
  }
}

/** The root of the bundle that signed the certificate, or undefined. */
export function issuingRoot(certPem: string, bundle: string): string | undefined {
  return splitPemCertificates(bundle).find((root) => signedBy(certPem, root));
}

/** Lowercase hex SHA-256 of a certificate's DER. */
export function certificateFingerprint(certPem: string): string {
  return createHash('sha256').update(new X509Certificate(certPem).raw).digest('hex');
}

/** Reads the identity out of a PEM certificate (an agent's own). */
export function identityOfCertificate(certPem: string): NodeIdentity & { fingerprint: string; validTo: string } {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    throw apiError('SHOAL_ERR_CERTIFICATE', `not a certificate: ${(err as Error).message}`, {}, err);
  }
  const fields = Object.fromEntries(
    cert.subject.split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
  const role = roleOfUnit(fields['OU'] ?? '');
  if (!role) throw apiError('SHOAL_ERR_CERTIFICATE', 'not a shoal node certificate');
  return {
    nodeId: fields['CN'] ?? '',
    role,
    clusterId: fields['O'] ?? '',
    fingerprint: certificateFingerprint(certPem),
    validTo: cert.validTo,
  };
}
