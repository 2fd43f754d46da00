/**
 * Joining a cluster, the agent's side, and the identity it keeps afterwards.
 *
 * 1. Fetch the manager's root CA over TLS without trusting it yet, and compare its digest
 *    with the one in the join token: a token for another cluster, or a manager that is not
 *    who the token says, stops here (SHOAL_ERR_CA_MISMATCH) before anything is sent.
 * 2. Make a key pair, and send a certificate signing request signed with it (src/api/csr.ts:
 *    proof that we hold the key) with the token over TLS verified against that CA; the
 *    manager answers with a node certificate naming the new node ID and role (a rotated or
 *    unknown token: SHOAL_ERR_JOIN_TOKEN_REJECTED) and the roots to trust: during a root CA
 *    rotation the certificate comes from the new root, which this channel vouches for.
 * 3. Check the certificate (signed by one of those roots, for our key) and persist ca.crt
 *    (the roots), node.crt, node.key (0600) and node.json in DATA-DIR. From then on the
 *    agent speaks mTLS only, renews its certificate over its session (session-client.ts),
 *    and a restart reuses the identity without a token.
 *
 * The key and certificate change together at each renewal, so they are saved as a pair
 * that survives a crash at any point: both are first written beside the current ones
 * (`node.key.next`, `node.crt.next`), then renamed over them, key first. A start that finds
 * a complete staged pair finishes the swap; one that finds the current pair mismatched
 * (a crash between the two renames) takes the staged certificate.
 */
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import type { NodeRole, RootCa } from '../api/api-types.ts';
import { caDigest, identityOfCertificate, issuingRoot } from '../api/certificates.ts';
import { createNodeCsr } from '../api/csr.ts';
import { ManagerClient } from '../api/client.ts';
import { GrpcConnection } from '../api/grpc-connection.ts';
import { parseHost } from '../api/manager-target.ts';
import { dataDirPaths } from '../api/data-dir.ts';
import type { NodeIdentityFile } from '../api/data-dir.ts';
import { apiError } from '../api/errors.ts';
import { parseJoinToken } from '../api/tokens.ts';
import { writeFileAtomic } from '../common/fs.ts';

export interface AgentIdentity {
  nodeId: string;
  clusterId: string;
  role: NodeRole;
  /** host:port of the manager's mTLS API. */
  managerAddr: string;
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** Whether a certificate is for the private key. */
function matches(certPem: string, keyPem: string): boolean {
  try {
    const pub = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
    return new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' }).equals(pub);
  } catch {
    return false;
  }
}

function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Finishes a key and certificate swap a crash interrupted (see the header). */
function settleStagedPair(p: ReturnType<typeof dataDirPaths>): void {
  const keyNext = readOr(`${p.nodeKey}.next`);
  const certNext = readOr(`${p.nodeCert}.next`);
  if (keyNext !== undefined && certNext !== undefined && matches(certNext, keyNext)) {
    renameSync(`${p.nodeKey}.next`, p.nodeKey);
    renameSync(`${p.nodeCert}.next`, p.nodeCert);
    return;
  }
  const key = readOr(p.nodeKey);
  if (certNext !== undefined && key !== undefined && matches(certNext, key)) {
    renameSync(`${p.nodeCert}.next`, p.nodeCert);
    return;
  }
  // an incomplete stage (a crash while writing it): the current pair stands
  for (const f of [`${p.nodeKey}.next`, `${p.nodeCert}.next`]) if (existsSync(f)) unlinkSync(f);
}

/** The identity persisted in DATA-DIR, or undefined when the directory has none. */
export function loadIdentity(dataDir: string): AgentIdentity | undefined {
  const p = dataDirPaths(dataDir);
  settleStagedPair(p);
  if (!existsSync(p.identity) || !existsSync(p.nodeCert) || !existsSync(p.nodeKey) || !existsSync(p.caCert)) return undefined;
  let file: NodeIdentityFile;
  try {
    file = JSON.parse(readFileSync(p.identity, 'utf8')) as NodeIdentityFile;
  } catch (err) {
    throw apiError('SHOAL_ERR_CERTIFICATE', `cannot read ${p.identity}: ${(err as Error).message}`, { path: p.identity }, err);
  }
  const certPem = readFileSync(p.nodeCert, 'utf8');
  const id = identityOfCertificate(certPem);
  if (id.nodeId !== file.nodeId) {
    throw apiError('SHOAL_ERR_CERTIFICATE', `${p.nodeCert} names node ${id.nodeId} but ${p.identity} says ${file.nodeId}`);
  }
  return {
    nodeId: id.nodeId,
    clusterId: id.clusterId,
    role: id.role,
    managerAddr: file.managerAddr,
    caPem: readFileSync(p.caCert, 'utf8'),
    certPem,
    keyPem: readFileSync(p.nodeKey, 'utf8'),
  };
}

export function saveIdentity(dataDir: string, id: AgentIdentity): void {
  const p = dataDirPaths(dataDir);
  mkdirSync(p.root, { recursive: true, mode: 0o700 });
  writeFileAtomic(p.caCert, id.caPem);
  // the pair: staged, then renamed key first (see the header)
  writeFileAtomic(`${p.nodeKey}.next`, id.keyPem, 0o600);
  writeFileAtomic(`${p.nodeCert}.next`, id.certPem);
  renameSync(`${p.nodeKey}.next`, p.nodeKey);
  renameSync(`${p.nodeCert}.next`, p.nodeCert);
  const file: NodeIdentityFile = { nodeId: id.nodeId, clusterId: id.clusterId, role: id.role, managerAddr: id.managerAddr };
  writeFileAtomic(p.identity, `${JSON.stringify(file, null, 2)}\n`);
}

/** The manager's root CA, fetched without verifying it (the caller checks its digest). */
export async function fetchRootCa(managerAddr: string, timeoutMs = 10_000): Promise<RootCa> {
  const conn = new GrpcConnection(parseHost(`tcp://${managerAddr}`), { ca: null, insecureSkipVerify: true }, timeoutMs);
  try {
    return await new ManagerClient(conn).getRootCa();
  } finally {
    conn.close();
  }
}

export interface JoinOptions {
  token: string;
  /** IP:PORT of the manager. */
  managerAddr: string;
  advertiseAddr: string;
  dataDir: string;
  hostname?: string;
  timeoutMs?: number;
}

export async function joinCluster(options: JoinOptions): Promise<AgentIdentity> {
  const { digest } = parseJoinToken(options.token);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const root = await fetchRootCa(options.managerAddr, timeoutMs);
  const actual = caDigest(root.certPem);
  if (actual !== digest) {
    throw apiError(
      'SHOAL_ERR_CA_MISMATCH',
      `the manager at ${options.managerAddr} has a different CA than the join token names (token ${digest.slice(0, 12)}..., manager ${actual.slice(0, 12)}...): wrong manager, or a token of another cluster`,
      { managerAddr: options.managerAddr },
    );
  }
  const key = createNodeCsr();
  const conn = new GrpcConnection(parseHost(`tcp://${options.managerAddr}`), { ca: Buffer.from(root.certPem) }, timeoutMs);
  let issued;
  try {
    issued = await new ManagerClient(conn).issueNodeCertificate({
      token: options.token,
      csrPem: key.csrPem,
      publicKeyPem: key.publicKeyPem,
      hostname: options.hostname ?? os.hostname(),
      advertiseAddr: options.advertiseAddr,
    });
  } finally {
    conn.close();
  }
  // the roots to trust: the token's root, and during a rotation the new one (sent over the channel the token's root verified)
  const bundle = issued.caPem.includes(root.certPem.trim()) ? issued.caPem : `${issued.caPem}${root.certPem}`;
  if (issuingRoot(issued.certPem, bundle) === undefined || !matches(issued.certPem, key.keyPem)) {
    throw apiError('SHOAL_ERR_CERTIFICATE', "the manager returned a certificate that is not signed by its CA or not for this node's key");
  }
  const identity: AgentIdentity = {
    nodeId: issued.nodeId,
    clusterId: issued.clusterId,
    role: issued.role === 'manager' ? 'manager' : 'worker',
    managerAddr: options.managerAddr,
    caPem: bundle,
    certPem: issued.certPem,
    keyPem: key.keyPem,
  };
  saveIdentity(options.dataDir, identity);
  return identity;
}
