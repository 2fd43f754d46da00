/**
 * Node certificates after the join: renewals (an agent's, over its mTLS session; the
 * manager's own, from its timer), the root CA rotation (`swarm ca --rotate`) and its
 * progress, and the certificate lifetime (`swarm update --cert-expiry`).
 *
 * Every issuance verifies a CSR (src/api/csr.ts) and names the certificate from the store,
 * never from the request: node ID from the caller's verified certificate, role from its
 * node record, cluster from the cluster record. The transaction that issues a certificate
 * records its fingerprint, root and expiry on the node and completes a rotation that this
 * certificate finished (ca-rotation.ts).
 */
import { X509Certificate } from 'node:crypto';
import type { CaStatus, RenewCertificateResponse, RotateCaRequest, Swarm, UpdateSwarmRequest } from '../../api/api-types.ts';
import { certificateFingerprint } from '../../api/certificates.ts';
import { verifyCsrFor } from '../../api/csr.ts';
import { apiError } from '../../api/errors.ts';
import type { WriteTx } from '../store.ts';
import { createRootCa, crossSignRoot, importRootCa, issueNodeCertificate } from '../ca.ts';
import { completeIfDone, rotationStatus, startRotation, trustBundlePem } from '../ca-rotation.ts';
import type { ClusterRecord, Kinds, NodeRecord } from '../objects.ts';
import { CLUSTER_KEY } from '../objects.ts';
import { isoTime } from '../orchestrator.ts';
import type { ControlCore } from './core.ts';
import { clusterOf } from './core.ts';

/** Docker's minimum for `--cert-expiry`. */
export const MIN_CERT_EXPIRY_MS = 3600_000;

/** The lifetime of certificates issued now, ms. */
export function certValidityMs(c: ClusterRecord, configDefault: number): number {
  return c.certExpiryMs ?? configDefault;
}

/** Records a just-issued certificate on its node (in the issuing transaction). */
export function recordCertificate(node: NodeRecord, certPem: string, rootDigest: string): void {
  node.certFingerprint = certificateFingerprint(certPem);
  node.certRootDigest = rootDigest;
  node.certExpiresAt = new Date(new X509Certificate(certPem).validTo).toISOString();
}

/** Completes the rotation if every node is now on the new root (call inside the transaction of a change that may finish it). */
export function completeRotationIfDone(tx: WriteTx<Kinds>, nowMs: number): boolean {
  const c = tx.get('cluster', CLUSTER_KEY);
  if (!c?.caRotation) return false;
  const done = completeIfDone(c, tx.all('node'), isoTime(nowMs));
  if (!done) return false;
  tx.put('cluster', done);
  return true;
}

export interface ManagerCertificate {
  /** The leaf, then (during a rotation) the new root cross-signed by the old one: what the server presents. */
  chainPem: string;
  certPem: string;
  trustBundlePem: string;
  rootDigest: string;
  /** The trust version it was issued under (the caller re-issues when the cluster's moves on). */
  caVersion: number;
}

export class CertificateControl {
  constructor(private readonly core: ControlCore) {}

  /**
   * A new certificate for an authenticated node, for the key of its CSR. A node removed
   * since its certificate was issued is refused (SHOAL_ERR_UNAUTHENTICATED).
   */
  async renewCertificate(nodeId: string, csrPem: string): Promise<RenewCertificateResponse> {
    const csr = verifyCsrFor(csrPem);
    const out = await this.core.mutate((ctx) => {
      const node = ctx.tx.get('node', nodeId);
      if (!node) {
        throw apiError(
          'SHOAL_ERR_UNAUTHENTICATED',
          `node ${nodeId} is not a member of this cluster (it was removed); join again with a token`,
          {
            nodeId,
          },
        );
      }
      const c = clusterOf(ctx.tx);
      const certPem = issueNodeCertificate(c.ca, {
        nodeId,
        role: node.spec.role === 'manager' ? 'manager' : 'worker',
        clusterId: c.clusterId,
        publicKeyPem: csr.publicKeyPem,
        nowMs: ctx.nowMs,
        validityMs: certValidityMs(c, this.core.config.nodeCertValidityMs),
        ips: node.status.addr !== '' ? [node.status.addr] : [],
      });
      recordCertificate(node, certPem, c.ca.digest);
      node.updatedAt = ctx.now;
      ctx.tx.put('node', node);
      const completed = completeRotationIfDone(ctx.tx, ctx.nowMs);
      const after = clusterOf(ctx.tx);
      return { certPem, trustBundlePem: trustBundlePem(after), rootDigest: after.ca.digest, completed };
    });
    this.core.logger.info({ nodeId, rootDigest: out.rootDigest.slice(0, 12) }, 'renewed a node certificate');
    if (out.completed) this.core.logger.info({ rootDigest: out.rootDigest.slice(0, 12) }, 'root CA rotation completed');
    return { certPem: out.certPem, trustBundlePem: out.trustBundlePem, rootDigest: out.rootDigest };
  }

  /**
   * The manager's own node certificate, for a key it just made (its server and client
   * identity): issued and recorded like any renewal, with the chain it presents.
   */
  async issueManagerCertificate(publicKeyPem: string): Promise<ManagerCertificate> {
    return this.core.mutate((ctx) => {
      const c = clusterOf(ctx.tx);
      const certPem = issueNodeCertificate(c.ca, {
        nodeId: c.managerNodeId,
        role: 'manager',
        clusterId: c.clusterId,
        publicKeyPem,
        nowMs: ctx.nowMs,
        validityMs: certValidityMs(c, this.core.config.nodeCertValidityMs),
        ips: this.core.config.advertiseAddr !== '' ? [this.core.config.advertiseAddr] : [],
      });
      const node = ctx.tx.get('node', c.managerNodeId);
      if (node) {
        recordCertificate(node, certPem, c.ca.digest);
        node.updatedAt = ctx.now;
        ctx.tx.put('node', node);
      }
      completeRotationIfDone(ctx.tx, ctx.nowMs);
      const after = clusterOf(ctx.tx);
      return {
        certPem,
        chainPem: after.caRotation ? `${certPem}${after.caRotation.crossSignedPem}` : certPem,
        trustBundlePem: trustBundlePem(after),
        rootDigest: after.ca.digest,
        caVersion: after.caVersion ?? 0,
      };
    });
  }

  /** `swarm ca`: the signing root and where a rotation stands. */
  caStatus(): CaStatus {
    return this.core.store.view((tx) => rotationStatus(clusterOf(tx), tx.all('node')));
  }

  /** `swarm ca --rotate`: a new root (made here, or the operator's) starts signing; both are trusted until every node renewed. */
  async rotateCa(req: RotateCaRequest): Promise<CaStatus> {
    const certPem = req.caCertPem ?? '';
    const keyPem = req.caKeyPem ?? '';
    if ((certPem === '') !== (keyPem === '')) {
      throw apiError('SHOAL_ERR_BAD_CA', 'give both the CA certificate and its key (--ca-cert and --ca-key), or neither');
    }
    const status = await this.core.mutate((ctx) => {
      const c = clusterOf(ctx.tx);
      const next = certPem !== '' ? importRootCa(certPem, keyPem, ctx.nowMs) : createRootCa(c.clusterId, ctx.nowMs, { rotation: true });
      const started = startRotation(c, next, crossSignRoot(next, c.ca, ctx.nowMs), ctx.now);
      ctx.tx.put('cluster', started);
      return rotationStatus(started, ctx.tx.all('node'));
    });
    this.core.logger.info({ rootDigest: status.rootDigest.slice(0, 12), nodes: status.nodesTotal }, 'root CA rotation started');
    return status;
  }

  /** `swarm update`: the lifetime of certificates issued from now on. */
  async updateSwarm(req: UpdateSwarmRequest, view: (c: ClusterRecord) => Swarm): Promise<Swarm> {
    const ms = req.certExpiryMs ?? 0;
    if (!Number.isInteger(ms) || ms < 0) throw apiError('SHOAL_ERR_BAD_SPEC', `certificate expiry ${ms} ms is not a non-negative integer`);
    if (ms > 0 && ms < MIN_CERT_EXPIRY_MS) {
      throw apiError('SHOAL_ERR_BAD_SPEC', `certificate expiry must be at least 1h (got ${ms} ms)`, { certExpiryMs: ms });
    }
    return this.core.store.update((tx) => {
      const c = clusterOf(tx);
      if (ms > 0 && ms !== c.certExpiryMs) {
        c.certExpiryMs = ms;
        c.updatedAt = isoTime(this.core.nowMs());
        tx.put('cluster', c);
      }
      return view(c);
    });
  }
}
