/**
 * Cluster-wide operations (`shoal swarm ...`): inspect, update (the certificate lifetime),
 * join tokens (read and rotate), the root CA and its rotation (certificates.ts), the
 * gossip keyring (rotate on request, and on age from the manager's timer) and the store
 * dump with its secrets replaced by their SHA-256.
 */
import { createHash } from 'node:crypto';
import type { CaStatus, JoinToken, NodeRole, RotateCaRequest, Swarm, UpdateSwarmRequest } from '../../api/api-types.ts';
import { apiError } from '../../api/errors.ts';
import { generateJoinToken } from '../../api/tokens.ts';
import { DATA_PATH_PORT } from '../config.ts';
import { keyringDue, keyringInfo, rotateKeyring } from '../keyring.ts';
import type { ClusterRecord } from '../objects.ts';
import { isoTime } from '../orchestrator.ts';
import { tokenRoot } from '../ca-rotation.ts';
import { CertificateControl, certValidityMs } from './certificates.ts';
import type { ControlCore } from './core.ts';
import { clusterOf } from './core.ts';

/** Replaces secrets with their SHA-256 in dumps (they are still compared, never shown). */
export function redactSecrets(kind: string, obj: Record<string, unknown>): Record<string, unknown> {
  if (kind !== 'cluster') return obj;
  const c = obj as unknown as ClusterRecord;
  const hash = (s: string): string => `sha256:${createHash('sha256').update(s).digest('hex')}`;
  return {
    ...obj,
    ca: { ...c.ca, keyPem: hash(c.ca.keyPem) },
    joinTokens: { worker: hash(c.joinTokens.worker), manager: hash(c.joinTokens.manager) },
    keyring: { ...c.keyring, keys: c.keyring.keys.map((k) => ({ ...k, key: hash(k.key) })) },
  };
}

export class SwarmControl {
  readonly certificates: CertificateControl;

  constructor(private readonly core: ControlCore) {
    this.certificates = new CertificateControl(core);
  }

  private swarmView(c: ClusterRecord): Swarm {
    return {
      id: c.clusterId,
      version: c.version,
      createdAt: c.createdAt,
      updatedAt: c.updatedAt,
      joinTokens: { ...c.joinTokens },
      // the root join tokens name (until a rotation completes, the previous one)
      rootCaCert: tokenRoot(c).certPem,
      caDigest: tokenRoot(c).digest,
      defaultAddrPool: [...c.defaultAddrPools],
      subnetSize: c.defaultAddrPoolMaskLength,
      dataPathPort: DATA_PATH_PORT,
      heartbeatPeriodMs: this.core.config.heartbeatPeriodMs,
      gossipKeys: keyringInfo(c.keyring),
      managerAddr: c.managerAddr,
      certExpiryMs: certValidityMs(c, this.core.config.nodeCertValidityMs),
      caRotationInProgress: c.caRotation !== undefined,
    };
  }

  async updateSwarm(req: UpdateSwarmRequest): Promise<Swarm> {
    return this.certificates.updateSwarm(req, (c) => this.swarmView(c));
  }

  async caStatus(): Promise<CaStatus> {
    return this.certificates.caStatus();
  }

  async rotateCa(req: RotateCaRequest): Promise<CaStatus> {
    return this.certificates.rotateCa(req);
  }

  async inspectSwarm(): Promise<Swarm> {
    return this.core.store.view((tx) => this.swarmView(clusterOf(tx)));
  }

  async joinToken(role: NodeRole, rotate = false): Promise<JoinToken> {
    if (role !== 'worker' && role !== 'manager')
      throw apiError('SHOAL_ERR_BAD_SPEC', `join token role ${JSON.stringify(role)} is not worker or manager`);
    if (!rotate) {
      return this.core.store.view((tx) => {
        const c = clusterOf(tx);
        return { role, token: c.joinTokens[role], managerAddr: c.managerAddr };
      });
    }
    return this.core.store.update((tx) => {
      const c = clusterOf(tx);
      c.joinTokens = { ...c.joinTokens, [role]: generateJoinToken(tokenRoot(c).digest) };
      c.updatedAt = isoTime(this.core.nowMs());
      tx.put('cluster', c);
      return { role, token: c.joinTokens[role], managerAddr: c.managerAddr };
    });
  }

  async rotateGossipKey(): Promise<Swarm> {
    return this.core.store.update((tx) => {
      const c = clusterOf(tx);
      const now = isoTime(this.core.nowMs());
      c.keyring = rotateKeyring(c.keyring, now, this.core.config.gossipKeyringSize);
      c.updatedAt = now;
      return this.swarmView(tx.put('cluster', c));
    });
  }

  /** Rotates the gossip keyring if its primary key is older than the configured age. */
  async rotateGossipKeyIfDue(): Promise<boolean> {
    const { config } = this.core;
    const due = this.core.store.view((tx) => keyringDue(clusterOf(tx).keyring, this.core.nowMs(), config.gossipKeyRotationMs));
    if (due) await this.rotateGossipKey();
    return due;
  }

  async dump(): Promise<string> {
    return this.core.store.dump(redactSecrets);
  }
}
