/**
 * PKCS#10 certificate signing requests (RFC 2986), built by nodes and verified by the
 * manager: the proof that whoever asks for a certificate holds the private key of the
 * public key it names.
 *
 *   CertificationRequest ::= SEQUENCE {
 *     certificationRequestInfo SEQUENCE { version INTEGER (0), subject Name,
 *                                         subjectPKInfo SubjectPublicKeyInfo,
 *                                         attributes [0] IMPLICIT SET OF Attribute },
 *     signatureAlgorithm AlgorithmIdentifier,   -- ecdsa-with-SHA256
 *     signature BIT STRING }                    -- over the DER of certificationRequestInfo
 *
 * A node signs with its P-256 key. The subject it writes (CN = its node ID when it has
 * one) is informational: the manager decides what a certificate names (node ID, role,
 * cluster) and never copies it from the request. Verification checks the structure, the
 * algorithm, and the signature against the key the request carries; the caller then
 * checks that key is the one it expects, when it expects one.
 */
import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { generateNodeKey } from './certificates.ts';
import type { KeyPairPem } from './certificates.ts';
import { bitString, childrenOf, contentOf, integer, oid, oidOf, pem, rawOf, readRoot, seq, set, tlv, unpem, utf8 } from './der.ts';
import type { DerNode } from './der.ts';
import { apiError } from './errors.ts';

const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const COMMON_NAME = '2.5.4.3';
const PEM_LABEL = 'CERTIFICATE REQUEST';

/** Builds a CSR for the key pair, signed with its private key; returns PEM. */
export function buildCsr(key: KeyPairPem, commonName = 'shoal-node'): string {
  const publicKey = createPublicKey(key.publicKeyPem);
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const subject = seq(set(seq(oid(COMMON_NAME), utf8(commonName))));
  const info = seq(integer(Buffer.from([0])), subject, spki, tlv(0xa0, Buffer.alloc(0)));
  const algorithm = seq(oid(ECDSA_WITH_SHA256));
  const signature = sign('sha256', info, createPrivateKey(key.keyPem));
  return pem(PEM_LABEL, seq(info, algorithm, bitString(signature)));
}

/** A fresh node key pair and a CSR for it (what a joining or renewing node sends). */
export function createNodeCsr(commonName?: string): KeyPairPem & { csrPem: string } {
  const key = generateNodeKey();
  return { ...key, csrPem: buildCsr(key, commonName) };
}

export interface VerifiedCsr {
  /** The public key the request carries, verified by its signature. */
  publicKey: KeyObject;
  /** That key as SPKI PEM. */
  publicKeyPem: string;
  /** The subject's CN as written by the requester (informational only). */
  commonName: string;
}

/**
 * Parses a PEM CSR and verifies its signature against the public key inside it.
 * SHOAL_ERR_CSR_INVALID: not a CSR, or an algorithm shoal does not use;
 * SHOAL_ERR_CSR_SIGNATURE: the signature does not verify (tampered, or signed by a key
 * other than the one it names).
 */
export function verifyCsr(csrPem: string): VerifiedCsr {
  if (typeof csrPem !== 'string' || csrPem.trim() === '') {
    throw apiError('SHOAL_ERR_CSR_INVALID', 'a certificate signing request (PKCS#10, PEM) is required');
  }
  const der = unpem(PEM_LABEL, csrPem);
  if (!der) throw apiError('SHOAL_ERR_CSR_INVALID', `the request is not a PEM "${PEM_LABEL}"`);
  const root = readRoot(der);
  const top = childrenOf(der, root);
  if (root.tag !== 0x30 || top.length !== 3) throw apiError('SHOAL_ERR_CSR_INVALID', 'a CSR is a SEQUENCE of three parts');
  const [infoNode, algNode, sigNode] = top as [DerNode, DerNode, DerNode];
  const info = childrenOf(der, infoNode);
  if (infoNode.tag !== 0x30 || info.length < 3 || info.length > 4) {
    throw apiError('SHOAL_ERR_CSR_INVALID', 'malformed certificationRequestInfo');
  }
  const version = contentOf(der, info[0]!);
  if (info[0]!.tag !== 0x02 || version.length !== 1 || version[0] !== 0) throw apiError('SHOAL_ERR_CSR_INVALID', 'CSR version is not 0');
  const alg = childrenOf(der, algNode);
  if (algNode.tag !== 0x30 || alg.length < 1 || oidOf(der, alg[0]!) !== ECDSA_WITH_SHA256) {
    throw apiError('SHOAL_ERR_CSR_INVALID', 'the CSR must be signed with ecdsa-with-SHA256');
  }
  if (sigNode.tag !== 0x03) throw apiError('SHOAL_ERR_CSR_INVALID', 'the CSR signature is not a BIT STRING');
  const sigBits = contentOf(der, sigNode);
  if (sigBits.length < 2 || sigBits[0] !== 0) throw apiError('SHOAL_ERR_CSR_INVALID', 'malformed CSR signature');

  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: rawOf(der, info[2]!), format: 'der', type: 'spki' });
  } catch (err) {
    throw apiError('SHOAL_ERR_CSR_INVALID', `the CSR's public key cannot be read: ${(err as Error).message}`, {}, err);
  }
  if (publicKey.asymmetricKeyType !== 'ec' || publicKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw apiError('SHOAL_ERR_CSR_INVALID', 'the CSR key must be an ECDSA P-256 key');
  }
  let ok = false;
  try {
    ok = verify('sha256', rawOf(der, infoNode), publicKey, sigBits.subarray(1));
  } catch {
    ok = false;
  }
  if (!ok) {
    throw apiError(
      'SHOAL_ERR_CSR_SIGNATURE',
      "the CSR's signature does not verify against the public key it carries (tampered, or signed with another key)",
    );
  }
  return {
    publicKey,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    commonName: commonNameOf(der, info[1]!),
  };
}

/** The first CN in a Name, or '' (best effort: informational). */
function commonNameOf(der: Buffer, name: DerNode): string {
  try {
    for (const rdn of childrenOf(der, name)) {
      for (const atv of childrenOf(der, rdn)) {
        const [type, value] = childrenOf(der, atv);
        if (type && value && oidOf(der, type) === COMMON_NAME) return contentOf(der, value).toString('utf8');
      }
    }
  } catch {
    // an unreadable subject names nothing
  }
  return '';
}

/**
 * Verifies a CSR and, when the caller names the key it expects (SPKI PEM), that the CSR
 * is for that key (SHOAL_ERR_CSR_KEY_MISMATCH otherwise).
 */
export function verifyCsrFor(csrPem: string, expectedPublicKeyPem?: string): VerifiedCsr {
  const csr = verifyCsr(csrPem);
  if (expectedPublicKeyPem !== undefined && expectedPublicKeyPem !== '') {
    let expected: Buffer;
    try {
      expected = createPublicKey(expectedPublicKeyPem).export({ type: 'spki', format: 'der' });
    } catch (err) {
      throw apiError(
        'SHOAL_ERR_CSR_KEY_MISMATCH',
        `the public key sent with the CSR is not a PEM public key: ${(err as Error).message}`,
        {},
        err,
      );
    }
    if (!expected.equals(csr.publicKey.export({ type: 'spki', format: 'der' }))) {
      throw apiError('SHOAL_ERR_CSR_KEY_MISMATCH', 'the CSR is for a different key than the public key sent with it');
    }
  }
  return csr;
}
