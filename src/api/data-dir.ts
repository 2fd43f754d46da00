/**
 * The layout of a shoal data directory, shared by `shoal manager`, `shoal agent` and the
 * CLI so that each finds the others' files without configuration.
 *
 *   DATA-DIR/                      mode 0700
 *     manager.sock                 the manager's local API socket (mode 0600, no TLS)
 *     manager.db (+ -wal, -shm)    the manager's SQLite store
 *     manager.pid                  PID of the manager process using this directory
 *     certificates/ca.crt          the cluster's root CA certificate
 *     certificates/node.crt        this node's certificate (CN = node ID, OU = role)
 *     certificates/node.key        this node's private key (mode 0600)
 *     node.json                    this node's identity: node ID, cluster ID, role, manager address
 */
import { join } from 'node:path';

/** Used when neither --data-dir nor SHOAL_DATA_DIR is given (as /var/lib/docker). */
export const DEFAULT_DATA_DIR = '/var/lib/shoal';

export interface DataDirPaths {
  root: string;
  /** The manager's unix socket. */
  socket: string;
  /** The agent's local socket (GET /status, /info, /doctor). */
  agentSocket: string;
  db: string;
  pidFile: string;
  certDir: string;
  caCert: string;
  nodeCert: string;
  nodeKey: string;
  identity: string;
}

export function dataDirPaths(root: string): DataDirPaths {
  const certDir = join(root, 'certificates');
  return {
    root,
    socket: join(root, 'manager.sock'),
    agentSocket: join(root, 'agent.sock'),
    db: join(root, 'manager.db'),
    pidFile: join(root, 'manager.pid'),
    certDir,
    caCert: join(certDir, 'ca.crt'),
    nodeCert: join(certDir, 'node.crt'),
    nodeKey: join(certDir, 'node.key'),
    identity: join(root, 'node.json'),
  };
}

/** DATA-DIR/node.json: what an agent (or the manager for its own node) persists about the node. */
export interface NodeIdentityFile {
  nodeId: string;
  clusterId: string;
  role: string;
  /** host:port of the manager's mTLS API. */
  managerAddr: string;
}

/** The data directory to use: explicit, then SHOAL_DATA_DIR, then the default. */
export function resolveDataDir(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  return explicit ?? env['SHOAL_DATA_DIR'] ?? DEFAULT_DATA_DIR;
}
