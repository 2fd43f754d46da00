/**
 * Shared helpers of the gossip simulations: the seed (fixed by default so runs are
 * reproducible; GOSSIP_SEED overrides it and every test prints the one it used) and small
 * assertions over a whole cluster.
 */
import type { Simulation, SimNode } from '../../src/gossip/simulation.ts';

export function seedFor(t: { comment(...args: unknown[]): void }, fallback: number): number {
  const env = process.env['GOSSIP_SEED'];
  const seed = env !== undefined && env !== '' ? Number(env) : fallback;
  if (!Number.isInteger(seed)) throw new TypeError(`GOSSIP_SEED must be an integer, got ${env}`);
  t.comment(`seed ${seed} (set GOSSIP_SEED to run with another)`);
  return seed;
}

export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

export function text(value: Uint8Array): string {
  return new TextDecoder().decode(value);
}

/** Nodes (running) whose live member count is not the expected one. */
export function notFormed(sim: Simulation, expected: number): SimNode[] {
  return sim.running().filter((n) => n.node.liveCount() !== expected);
}
