/**
 * Identifiers in Docker's shapes.
 * - Object IDs (networks, services, tasks, nodes): 25 lowercase base-36 characters.
 * - Short IDs for kernel names: the first 12 characters.
 */
import { randomBytes } from 'node:crypto';
import type { Rng } from './rng.ts';

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';
export const ID_LENGTH = 25;

/** A new random object ID (crypto randomness, or a seeded Rng in tests). */
export function newId(rng?: Rng): string {
  let out = '';
  if (rng) {
    for (let i = 0; i < ID_LENGTH; i++) out += ALPHABET[rng.int(36)];
    return out;
  }
  // Rejection sampling keeps the distribution uniform over 36 symbols.
  while (out.length < ID_LENGTH) {
    const byte = nextRandomByte();
    if (byte < 252) out += ALPHABET[byte % 36];
  }
  return out;
}

// Random bytes are drawn in 4 KiB blocks: one crypto call per ~150 IDs instead of one per
// ID (the manager makes two IDs per task, 100k tasks in a burst).
let pool = Buffer.alloc(0);
let poolPos = 0;
function nextRandomByte(): number {
  if (poolPos >= pool.length) {
    pool = randomBytes(4096);
    poolPos = 0;
  }
  return pool[poolPos++]!;
}

export function isId(s: string): boolean {
  return s.length === ID_LENGTH && /^[0-9a-z]+$/.test(s);
}

/** First 12 characters, as `docker ps` and kernel object names use. */
export function shortId(id: string): string {
  return id.slice(0, 12);
}
