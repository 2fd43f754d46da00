/**
 * Lifeguard local health ("awareness"): a score in [0, max - 1] that rises when this node
 * shows signs of being the slow one (its probes fail while helpers it asked do not even
 * send nacks, or it has to refute a suspicion of itself) and falls with every successful
 * probe. Timeouts and the probe interval are multiplied by (score + 1), so an overloaded
 * node waits longer before it accuses healthy members. Pure functions over a number.
 */

/** Applies `delta` and clamps to [0, max - 1]. */
export function applyAwareness(score: number, delta: number, max: number): number {
  return Math.min(Math.max(0, score + delta), Math.max(0, max - 1));
}

/** Scales a timeout by the health score. */
export function scaleByAwareness(ms: number, score: number): number {
  return ms * (score + 1);
}
