/**
 * Cluster-wide operations (`shoal swarm ...`): inspect, join tokens (read and rotate),
 * the gossip keyring (rotate on request, and on age from the manager's timer) and the
 * store dump with its secrets replaced by their SHA-256.
 */
import { createHash } from 'node:crypto';
import type { JoinToken, NodeRole, Swarm } from '../../api/api-types.ts';
import { apiError } from '../../api/errors.ts';
import { generateJoinToken } from '../../api/tokens.ts';
import { DATA_PATH_PORT } from '../config.ts';
import { keyringDue, keyringInfo, rotateKeyring } from '../keyring.ts';
import type { ClusterRecord } from '../objects.ts';
import { isoTime } from '../orchestrator.ts';
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
  constructor(private readonly core: ControlCore) {}

  private swarmView(c: ClusterRecord): Swarm {
    return {
      id: c.clusterId,
      version: c.version,
      createdAt: c.createdAt,
      updatedAt: c.updatedAt,
      joinTokens: { ...c.joinTokens },
      rootCaCert: c.ca.certPem,
      caDigest: c.ca.digest,
      defaultAddrPool: [...c.defaultAddrPools],
      subnetSize: c.defaultAddrPoolMaskLength,
      dataPathPort: DATA_PATH_PORT,
      heartbeatPeriodMs: this.core.config.heartbeatPeriodMs,
      gossipKeys: keyringInfo(c.keyring),
      managerAddr: c.managerAddr,
    };
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
      c.joinTokens = { ...c.joinTokens, [role]: generateJoinToken(c.ca.digest) };
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
