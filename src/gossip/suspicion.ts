/**
 * Lifeguard's dynamic suspicion timeout. A suspicion starts at the maximum timeout and
 * shrinks towards the minimum as independent confirmations arrive (other members that
 * suspect the same node at the same incarnation):
 *
 *   timeout(c) = max(min, max - (max - min) x log(c + 1) / log(k + 1))
 *
 * with c confirmations so far and k the number expected for full confidence. A lone
 * accuser (perhaps itself overloaded) therefore waits the long maximum, which leaves the
 * suspect ample time to hear the rumour and refute; a failure seen by many is declared
 * after the short minimum. Pure data and arithmetic; the state machine owns the clock.
 */

export interface Suspicion {
  readonly node: string;
  readonly incarnation: number;
  /** When this node started suspecting, ms. */
  readonly start: number;
  readonly minMs: number;
  readonly maxMs: number;
  /** Confirmations for full confidence (Lifeguard K). */
  readonly k: number;
  /** Accusers seen so far (the first one is not a confirmation). */
  readonly accusers: Set<string>;
  /** When the suspect is declared dead, ms. */
  deadline: number;
}

/** Timeout after `c` confirmations. */
export function suspicionTimeout(minMs: number, maxMs: number, k: number, c: number): number {
  if (k < 1 || c >= k) return minMs;
  const frac = Math.log(c + 1) / Math.log(k + 1);
  return Math.max(minMs, Math.floor(maxMs - (maxMs - minMs) * frac));
}

export function startSuspicion(
  node: string,
  incarnation: number,
  from: string,
  now: number,
  minMs: number,
  maxMs: number,
  k: number,
): Suspicion {
  return {
    node,
    incarnation,
    start: now,
    minMs,
    maxMs,
    k,
    accusers: new Set([from]),
    deadline: now + suspicionTimeout(minMs, maxMs, k, 0),
  };
}

/** Records an accuser; true when it is a new, independent confirmation. */
export function confirmSuspicion(s: Suspicion, from: string): boolean {
  // At full confidence nothing more is recorded (bounds memory under floods).
  if (s.accusers.size > s.k || s.accusers.has(from)) return false;
  s.accusers.add(from);
  s.deadline = s.start + suspicionTimeout(s.minMs, s.maxMs, s.k, s.accusers.size - 1);
  return true;
}
