/**
 * Which manager a client talks to and how it trusts it: DOCKER_HOST-style addresses
 * (`unix:///path/to/manager.sock` or `tcp://IP:PORT`), the default from the environment and
 * data directory, the certificates a tcp:// host needs, and the check that the server is a
 * manager of this cluster. Shared by both connections (h2-connection.ts for the CLI,
 * grpc-connection.ts for agents), so it imports neither transport.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PeerCertificate } from 'node:tls';
import { ROLE_UNITS } from './certificates.ts';
import { dataDirPaths, resolveDataDir } from './data-dir.ts';
import { apiError } from './errors.ts';

export interface ConnectOptions {
  /** `unix:///path` or `tcp://IP:PORT` (or bare `IP:PORT`); default SHOAL_HOST, then the data dir's socket. */
  host?: string;
  /** Data directory whose socket (and certificates) to use. */
  dataDir?: string;
  /** Directory with ca.crt, node.crt, node.key for tcp:// hosts. */
  tlsDir?: string;
  /** Deadline of each unary call, ms (default 60,000). */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export interface TlsMaterial {
  /** The cluster CA; null only with insecureSkipVerify. */
  ca: Buffer | null;
  cert?: Buffer;
  key?: Buffer;
  /** Skip verifying the server against `ca` (only to fetch the root CA before checking its digest). */
  insecureSkipVerify?: boolean;
}

export interface Target {
  /** `unix:///path` or `HOST:PORT` (an IPv6 host in brackets): the grpc-js target string. */
  target: string;
  /** What the user named, for messages. */
  display: string;
  secure: boolean;
}

/** Parses a DOCKER_HOST-style address into a target. */
export function parseHost(host: string): Target {
  if (host.startsWith('unix://')) {
    const path = host.slice('unix://'.length);
    if (!path.startsWith('/'))
      throw apiError('SHOAL_ERR_BAD_SPEC', `host ${JSON.stringify(host)}: a unix socket path must be absolute (unix:///path)`);
    return { target: `unix://${path}`, display: host, secure: false };
  }
  const hostPort = host.startsWith('tcp://') ? host.slice('tcp://'.length) : host;
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:/\s]+):(\d{1,5})$/.exec(hostPort);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
    throw apiError('SHOAL_ERR_BAD_SPEC', `host ${JSON.stringify(host)} is not unix:///path or tcp://IP:PORT`);
  }
  return { target: `${m[1]}:${m[2]}`, display: `tcp://${hostPort}`, secure: true };
}

/** The host to use from options and environment. */
export function resolveHost(options: ConnectOptions = {}): string {
  const env = options.env ?? process.env;
  if (options.host !== undefined && options.host !== '') return options.host;
  const fromEnv = env['SHOAL_HOST'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  return `unix://${dataDirPaths(resolveDataDir(options.dataDir, env)).socket}`;
}

/** The certificate directory for tcp:// hosts: tlsDir, else SHOAL_CERT_PATH, else DATA-DIR/certificates. */
export function resolveTlsDir(options: ConnectOptions = {}): string {
  const env = options.env ?? process.env;
  return options.tlsDir ?? env['SHOAL_CERT_PATH'] ?? dataDirPaths(resolveDataDir(options.dataDir, env)).certDir;
}

/** Reads ca.crt, node.crt, node.key from a certificate directory. */
export function readTlsDir(dir: string): TlsMaterial {
  try {
    return { ca: readFileSync(join(dir, 'ca.crt')), cert: readFileSync(join(dir, 'node.crt')), key: readFileSync(join(dir, 'node.key')) };
  } catch (err) {
    throw apiError('SHOAL_ERR_CERTIFICATE', `cannot read TLS certificates from ${dir}: ${(err as Error).message}`, { dir }, err);
  }
}

/**
 * Accepts the server's certificate when it is a manager certificate of this cluster (the
 * chain is already verified against the cluster CA), whatever address was dialled: node
 * certificates name node IDs, not host names. The signature of tls's `checkServerIdentity`.
 */
export function checkManagerIdentity(_host: string, cert: PeerCertificate): Error | undefined {
  const ou = cert.subject?.OU;
  const units = Array.isArray(ou) ? ou : [ou];
  if (units.includes(ROLE_UNITS.manager)) return undefined;
  return apiError('SHOAL_ERR_CERTIFICATE', 'the server certificate is not a shoal manager certificate');
}
