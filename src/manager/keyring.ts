/**
 * The gossip keyring: AES-256-GCM keys the agents encrypt their gossip with.
 *
 * The manager makes the keys (32 random bytes each) and sends the whole ring to every
 * agent. Rotation appends a new key that becomes primary (agents encrypt with it) and drops
 * the oldest beyond the ring size; keys still in the ring keep decrypting traffic sent
 * before an agent learnt of the rotation. Each key carries a Lamport time so that agents
 * order rings that reach them out of order. Pure functions over the stored ring; the
 * manager decides when to rotate (config gossipKeyRotationMs) and persists the result.
 */
import { randomBytes } from 'node:crypto';
import type { GossipKeyring, GossipKeyInfo } from '../api/api-types.ts';
import type { StoredGossipKey } from './objects.ts';

export const GOSSIP_KEY_BYTES = 32;
export const GOSSIP_ALGORITHM = 'aes-256-gcm';

export interface StoredKeyring {
  version: number;
  keys: StoredGossipKey[];
}

/** A ring with one fresh key. */
export function newKeyring(createdAt: string): StoredKeyring {
  return { version: 1, keys: [{ key: randomBytes(GOSSIP_KEY_BYTES).toString('base64'), lamportTime: 1, createdAt }] };
}

/** The ring after one rotation: a new primary appended, the oldest dropped beyond `size`. */
export function rotateKeyring(ring: StoredKeyring, createdAt: string, size: number): StoredKeyring {
  const lamport = Math.max(0, ...ring.keys.map((k) => k.lamportTime)) + 1;
  const keys = [...ring.keys, { key: randomBytes(GOSSIP_KEY_BYTES).toString('base64'), lamportTime: lamport, createdAt }];
  return { version: ring.version + 1, keys: keys.slice(Math.max(0, keys.length - size)) };
}

/** Whether the primary key is older than `maxAgeMs` (0 = never). */
export function keyringDue(ring: StoredKeyring, nowMs: number, maxAgeMs: number): boolean {
  if (maxAgeMs <= 0) return false;
  const primary = ring.keys[ring.keys.length - 1];
  return primary === undefined || nowMs - Date.parse(primary.createdAt) >= maxAgeMs;
}

/** The ring as agents receive it. */
export function keyringForAgents(ring: StoredKeyring): GossipKeyring {
  return {
    version: ring.version,
    keys: ring.keys.map((k, i) => ({
      key: Buffer.from(k.key, 'base64'),
      lamportTime: k.lamportTime,
      primary: i === ring.keys.length - 1,
      algorithm: GOSSIP_ALGORITHM,
    })),
  };
}

/** The ring as the API shows it (no key material). */
export function keyringInfo(ring: StoredKeyring): GossipKeyInfo[] {
  return ring.keys.map((k, i) => ({ lamportTime: k.lamportTime, primary: i === ring.keys.length - 1, createdAt: k.createdAt }));
}
