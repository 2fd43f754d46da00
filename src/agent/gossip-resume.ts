/**
 * What an agent needs to be back in gossip before it reaches the manager: the keyring and
 * the peers of its last assignment, kept in DATA-DIR/gossip.json (0600: it holds the keys,
 * beside the node's TLS key).
 *
 * Why: an agent that dies (a crash, SIGKILL, an upgrade) leaves its tasks and kernel state
 * serving, but its gossip goes quiet, and once the failure detector declares the node dead
 * (about two seconds) every other node takes its backends out. A restarted agent that
 * answers gossip again from its first second, before the manager's stream and the first
 * assignment, refutes the suspicion in time: nobody notices the restart.
 */
import { readFileSync } from 'node:fs';
import type { GossipKeyring, Peer } from '../api/api-types.ts';
import { writeFileAtomic } from '../common/fs.ts';

export interface GossipResume {
  keyring: GossipKeyring | undefined;
  peers: Peer[];
}

interface FileShape {
  version: 1;
  keyring?: { version: number; keys: Array<{ key: string; lamportTime: number; primary: boolean; algorithm: string }> };
  peers: Peer[];
}

/** The file's text for a keyring and peers (keys in hex). */
export function encodeGossipResume(r: GossipResume): string {
  const body: FileShape = {
    version: 1,
    ...(r.keyring
      ? {
          keyring: {
            version: r.keyring.version,
            keys: r.keyring.keys.map((k) => ({
              key: Buffer.from(k.key).toString('hex'),
              lamportTime: k.lamportTime,
              primary: k.primary,
              algorithm: k.algorithm,
            })),
          },
        }
      : {}),
    peers: r.peers.map((p) => ({ nodeId: p.nodeId, addr: p.addr, hostname: p.hostname, role: p.role, gossipPort: p.gossipPort })),
  };
  return `${JSON.stringify(body)}\n`;
}

/** The keyring and peers in a file's text; undefined when it is not one this version wrote. */
export function decodeGossipResume(text: string): GossipResume | undefined {
  let body: FileShape;
  try {
    body = JSON.parse(text) as FileShape;
  } catch {
    return undefined;
  }
  if (body?.version !== 1 || !Array.isArray(body.peers)) return undefined;
  const keys = body.keyring?.keys ?? [];
  if (!keys.every((k) => typeof k.key === 'string' && /^([0-9a-f]{2})+$/.test(k.key))) return undefined;
  return {
    keyring: body.keyring
      ? {
          version: body.keyring.version,
          keys: keys.map((k) => ({
            key: Uint8Array.from(Buffer.from(k.key, 'hex')),
            lamportTime: k.lamportTime,
            primary: k.primary,
            algorithm: k.algorithm,
          })),
        }
      : undefined,
    peers: body.peers.filter((p) => typeof p?.nodeId === 'string' && typeof p.addr === 'string'),
  };
}

export function loadGossipResume(path: string): GossipResume | undefined {
  try {
    return decodeGossipResume(readFileSync(path, 'utf8'));
  } catch {
    return undefined; // none yet
  }
}

export function saveGossipResume(path: string, r: GossipResume): void {
  writeFileAtomic(path, encodeGossipResume(r), 0o600);
}
