/**
 * Root CA rotation, as a state machine over the cluster record and the node records (no
 * I/O, no clock: the caller passes the time and runs each step inside the store
 * transaction of the change that causes it).
 *
 *   idle --start(new root)--> rotating --every node on the new root--> idle (new root only)
 *
 * - start: the new root signs from now on (`cluster.ca`); the old one stays trusted
 *   (`caRotation.previous`) and has cross-signed the new one, which the manager presents
 *   after its own certificate so that nodes trusting only the old root still accept it. The
 *   trust version is bumped: every session gets the two-root bundle, and each agent whose
 *   certificate is not signed by the new root renews at once (session-client.ts).
 * - progress: a node is done when its recorded certificate (`certRootDigest`, written in the
 *   transaction that issued it) comes from the new root. A node that is down or never
 *   connected is not done: it blocks completion until it comes back and renews, or is
 *   removed (`shoal node rm`), which is what `swarm ca` lists as pending.
 * - complete: once every node is done (checked in the transaction of each renewal and of
 *   each node removal), the old root is dropped from the bundle, the trust version bumped
 *   again, and the join tokens keep their secrets but carry the new root's digest. A client
 *   certificate of the old root is refused from then on.
 *
 * A second `--rotate` during a rotation is refused (SHOAL_ERR_CA_ROTATION_IN_PROGRESS).
 */
import type { CaPendingNode, CaStatus, CaTrust } from '../api/api-types.ts';
import { apiError } from '../api/errors.ts';
import { parseJoinToken, TOKEN_PREFIX, TOKEN_VERSION } from '../api/tokens.ts';
import type { CaMaterial } from './ca.ts';
import type { ClusterRecord, NodeRecord } from './objects.ts';

/** What a rotation needs of the node records. */
export type RotationNode = Pick<NodeRecord, 'id' | 'description' | 'status'> & { certRootDigest?: string };

/** The roots nodes trust now: the signing root first, then the previous one during a rotation. */
export function trustBundlePem(c: Pick<ClusterRecord, 'ca' | 'caRotation'>): string {
  return c.caRotation ? `${c.ca.certPem}${c.caRotation.previous.certPem}` : c.ca.certPem;
}

/** The assignment's `ca` item. */
export function caTrustOf(c: Pick<ClusterRecord, 'ca' | 'caRotation' | 'caVersion'>): CaTrust {
  return { trustBundlePem: trustBundlePem(c), rootDigest: c.ca.digest, version: c.caVersion ?? 0 };
}

/** The root whose digest join tokens carry: the previous one until a rotation completes. */
export function tokenRoot(c: Pick<ClusterRecord, 'ca' | 'caRotation'>): { certPem: string; digest: string } {
  return c.caRotation ? c.caRotation.previous : c.ca;
}

/** Starts a rotation to `next` (a new root, already cross-signed by the current one). Returns the new cluster record. */
export function startRotation(c: ClusterRecord, next: CaMaterial, crossSignedPem: string, now: string): ClusterRecord {
  if (c.caRotation) {
    throw apiError(
      'SHOAL_ERR_CA_ROTATION_IN_PROGRESS',
      `a root CA rotation started at ${c.caRotation.startedAt} has not completed; see \`shoal swarm ca\` for the nodes it waits for`,
    );
  }
  if (next.digest === c.ca.digest) throw apiError('SHOAL_ERR_BAD_CA', 'the new root CA is the current one');
  return {
    ...c,
    ca: { ...next },
    caRotation: { previous: { certPem: c.ca.certPem, digest: c.ca.digest }, crossSignedPem, startedAt: now },
    caVersion: (c.caVersion ?? 0) + 1,
    updatedAt: now,
  };
}

/** Where a rotation stands (or the idle state, all nodes counted against the signing root). */
export function rotationStatus(c: ClusterRecord, nodes: readonly RotationNode[]): CaStatus {
  const pending: CaPendingNode[] = [];
  for (const n of [...nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    if (n.certRootDigest === c.ca.digest) continue;
    pending.push({ nodeId: n.id, hostname: n.description.hostname, state: n.status.state });
  }
  return {
    rootCaPem: c.ca.certPem,
    rootDigest: c.ca.digest,
    rotating: c.caRotation !== undefined,
    previousDigest: c.caRotation?.previous.digest ?? '',
    nodesDone: nodes.length - pending.length,
    nodesTotal: nodes.length,
    pending,
  };
}

/** A join token with the same secret for another root. */
export function retokened(token: string, digest: string): string {
  return `${TOKEN_PREFIX}-${TOKEN_VERSION}-${digest}-${parseJoinToken(token).secret}`;
}

/**
 * Completes the rotation when every node holds a certificate of the new root: returns the
 * new cluster record, or undefined when there is nothing to do (no rotation, or nodes pending).
 */
export function completeIfDone(c: ClusterRecord, nodes: readonly RotationNode[], now: string): ClusterRecord | undefined {
  if (!c.caRotation) return undefined;
  if (nodes.some((n) => n.certRootDigest !== c.ca.digest)) return undefined;
  const { caRotation: _done, ...rest } = c;
  return {
    ...rest,
    caVersion: (c.caVersion ?? 0) + 1,
    joinTokens: { worker: retokened(c.joinTokens.worker, c.ca.digest), manager: retokened(c.joinTokens.manager, c.ca.digest) },
    updatedAt: now,
  };
}
