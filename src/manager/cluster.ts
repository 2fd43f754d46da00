/**
 * Cluster init and resume.
 *
 * The first start with an empty data directory creates the cluster in one transaction:
 * its ID, the root CA, the join tokens, the gossip keyring, the `ingress` network
 * (10.255.0.0/16, VXLAN ID 4096) and the manager's own node (role manager, with its
 * ingress sandbox address). Later starts find the cluster record and resume. Either way
 * the manager's node certificate and key are (re)written to DATA-DIR/certificates when
 * missing or not matching the stored CA, and DATA-DIR/node.json names the node, so that a
 * local `shoal agent --data-dir DIR` speaks for the manager's node without a token.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import type { NetworkSpec, NodeDescription } from '../api/api-types.ts';
import { certificateFingerprint, generateNodeKey, identityOfCertificate } from '../api/certificates.ts';
import type { DataDirPaths, NodeIdentityFile } from '../api/data-dir.ts';
import { generateJoinToken } from '../api/tokens.ts';
import { writeFileAtomic } from '../common/fs.ts';
import { newId } from '../common/ids.ts';
import { SHOAL_VERSION } from '../common/version.ts';
import { INGRESS_GATEWAY, INGRESS_SUBNET } from '../ipam/index.ts';
import { createRootCa, issueNodeCertificate } from './ca.ts';
import { trustBundlePem } from './ca-rotation.ts';
import { certValidityMs, recordCertificate } from './control/certificates.ts';
import type { ManagerConfig } from './config.ts';
import { INGRESS_NETWORK_NAME } from './config.ts';
import type { ManagerControl } from './control.ts';
import { insertNetwork } from './control/networks.ts';
import { insertNode } from './control/nodes.ts';
import { newKeyring } from './keyring.ts';
import type { ClusterRecord, NodeRecord } from './objects.ts';
import { CLUSTER_KEY } from './objects.ts';
import { isoTime } from './orchestrator.ts';

export function ingressNetworkSpec(): NetworkSpec {
  return {
    name: INGRESS_NETWORK_NAME,
    driver: 'overlay',
    subnets: [{ subnet: INGRESS_SUBNET, gateway: INGRESS_GATEWAY, auxAddresses: {} }],
    attachable: false,
    internal: false,
    ipv6: false,
    labels: {},
    options: {},
    ingress: true,
  };
}

/** Describes this process's own host: the manager's node record before its agent reports. */
export function localNodeDescription(): NodeDescription {
  return { hostname: os.hostname(), platformOs: os.platform(), platformArch: os.arch(), version: SHOAL_VERSION };
}

/** Creates the cluster in one transaction. */
export async function initCluster(
  control: ManagerControl,
  config: ManagerConfig,
  managerAddr: string,
): Promise<{ cluster: ClusterRecord; nodeKeyPem: string; nodeCertPem: string }> {
  const nodeKey = generateNodeKey();
  let certPem = '';
  const cluster = await control.mutate((ctx) => {
    const clusterId = newId();
    const ca = createRootCa(clusterId, ctx.nowMs);
    const managerNodeId = newId();
    const record: ClusterRecord = {
      id: CLUSTER_KEY,
      version: 0,
      clusterId,
      createdAt: ctx.now,
      updatedAt: ctx.now,
      ca,
      joinTokens: { worker: generateJoinToken(ca.digest), manager: generateJoinToken(ca.digest) },
      defaultAddrPools: [...config.defaultAddrPools],
      defaultAddrPoolMaskLength: config.defaultAddrPoolMaskLength,
      portRangeStart: config.portRangeStart,
      portRangeEnd: config.portRangeEnd,
      managerNodeId,
      managerAddr,
      ingressNetworkId: '',
      keyring: newKeyring(ctx.now),
    };
    const ingress = insertNetwork(ctx, ingressNetworkSpec(), true);
    record.ingressNetworkId = ingress.id;
    ctx.tx.put('cluster', record);
    certPem = issueNodeCertificate(ca, {
      nodeId: managerNodeId,
      role: 'manager',
      clusterId,
      publicKeyPem: nodeKey.publicKeyPem,
      nowMs: ctx.nowMs,
      validityMs: config.nodeCertValidityMs,
      ips: [config.advertiseAddr],
    });
    const node: NodeRecord = {
      id: managerNodeId,
      version: 0,
      createdAt: ctx.now,
      updatedAt: ctx.now,
      spec: { name: '', labels: {}, role: 'manager', availability: 'active' },
      description: localNodeDescription(),
      status: { state: 'unknown', message: 'no agent has a session for this node yet', addr: config.advertiseAddr, gossipPort: 0 },
      managerStatus: { leader: true, reachability: 'reachable', addr: managerAddr },
      certFingerprint: '',
    };
    recordCertificate(node, certPem, ca.digest);
    insertNode(ctx, node);
    return record;
  });
  return { cluster, nodeKeyPem: nodeKey.keyPem, nodeCertPem: certPem };
}

/**
 * Makes sure DATA-DIR holds the manager node's certificate, key and identity for this
 * cluster; reissues them from the stored CA when they are missing or stale. Returns the
 * key and certificate the TCP server presents.
 */
export async function ensureManagerCertificates(
  control: ManagerControl,
  config: ManagerConfig,
  paths: DataDirPaths,
  fresh?: { nodeKeyPem: string; nodeCertPem: string },
): Promise<{ keyPem: string; certPem: string; caPem: string; cluster: ClusterRecord }> {
  const cluster = control.store.view((tx) => tx.get('cluster', CLUSTER_KEY))!;
  let keyPem = fresh?.nodeKeyPem;
  let certPem = fresh?.nodeCertPem;
  if (!keyPem || !certPem) {
    try {
      const k = readFileSync(paths.nodeKey, 'utf8');
      const c = readFileSync(paths.nodeCert, 'utf8');
      const id = identityOfCertificate(c);
      const issued = new X509Certificate(c).verify(new X509Certificate(cluster.ca.certPem).publicKey);
      const expired = Date.parse(new X509Certificate(c).validTo) < control.nowMs() + 24 * 3600_000;
      if (id.nodeId === cluster.managerNodeId && id.role === 'manager' && issued && !expired) {
        keyPem = k;
        certPem = c;
      }
    } catch {
      // missing or unreadable: reissue below
    }
  }
  if (!keyPem || !certPem) {
    const key = generateNodeKey();
    keyPem = key.keyPem;
    certPem = issueNodeCertificate(cluster.ca, {
      nodeId: cluster.managerNodeId,
      role: 'manager',
      clusterId: cluster.clusterId,
      publicKeyPem: key.publicKeyPem,
      nowMs: control.nowMs(),
      validityMs: certValidityMs(cluster, config.nodeCertValidityMs),
      ips: [config.advertiseAddr],
    });
    const issuedPem = certPem;
    await control.store.update((tx) => {
      const node = tx.get('node', cluster.managerNodeId);
      if (node && node.certFingerprint !== certificateFingerprint(issuedPem)) {
        recordCertificate(node, issuedPem, cluster.ca.digest);
        tx.put('node', node);
      }
    });
  }
  // every root trusted now (two during a rotation)
  const bundle = trustBundlePem(cluster);
  const caOnDisk = existsSync(paths.caCert) ? readFileSync(paths.caCert, 'utf8') : '';
  if (caOnDisk !== bundle) writeFileAtomic(paths.caCert, bundle);
  if (!existsSync(paths.nodeKey) || readFileSync(paths.nodeKey, 'utf8') !== keyPem) writeFileAtomic(paths.nodeKey, keyPem, 0o600);
  if (!existsSync(paths.nodeCert) || readFileSync(paths.nodeCert, 'utf8') !== certPem) writeFileAtomic(paths.nodeCert, certPem);
  const identity: NodeIdentityFile = {
    nodeId: cluster.managerNodeId,
    clusterId: cluster.clusterId,
    role: 'manager',
    managerAddr: cluster.managerAddr,
  };
  const text = `${JSON.stringify(identity, null, 2)}\n`;
  if (!existsSync(paths.identity) || readFileSync(paths.identity, 'utf8') !== text) writeFileAtomic(paths.identity, text);
  return { keyPem, certPem, caPem: bundle, cluster };
}

/** Records the address agents dial when it changed (e.g. a new --listen-addr port). */
export async function updateManagerAddr(control: ManagerControl, managerAddr: string): Promise<void> {
  await control.store.update((tx) => {
    const c = tx.get('cluster', CLUSTER_KEY);
    if (!c || c.managerAddr === managerAddr) return;
    c.managerAddr = managerAddr;
    c.updatedAt = isoTime(control.nowMs());
    tx.put('cluster', c);
    const node = tx.get('node', c.managerNodeId);
    if (node?.managerStatus && node.managerStatus.addr !== managerAddr) {
      node.managerStatus = { ...node.managerStatus, addr: managerAddr };
      tx.put('node', node);
    }
  });
}
