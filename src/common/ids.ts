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
    for (const byte of randomBytes(ID_LENGTH * 2)) {
      if (byte < 252 && out.length < ID_LENGTH) out += ALPHABET[byte % 36];
    }
  }
  return out;
}

export function isId(s: string): boolean {
  return s.length === ID_LENGTH && /^[0-9a-z]+$/.test(s);
}

/** First 12 characters, as `docker ps` and kernel object names use. */
export function shortId(id: string): string {
  return id.slice(0, 12);
}
