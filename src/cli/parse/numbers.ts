/**
 * Whole-number flag values (--replicas, --health-retries, --update-parallelism). Docker
 * parses these as unsigned integers and names the flag in its error; so does shoal. Only
 * plain decimal digits are accepted: `1e3`, `0x10`, ` 3` and `-1` are refused rather than
 * silently reinterpreted.
 */
import { badFlagValue } from './usage-error.ts';

/** Parses a non-negative integer no larger than `max`; throws a UsageError naming `flag`. */
export function parseUint(text: string, flag: string, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(text)) throw badFlagValue(flag, text, 'want a non-negative integer');
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n > max) throw badFlagValue(flag, text, `want an integer from 0 to ${max}`);
  return n;
}

/** A fraction from 0 to 1 (--update-max-failure-ratio): plain decimal, `0.2`, `.5`, `1`. */
export function parseRatio(text: string, flag: string): number {
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(text)) throw badFlagValue(flag, text, 'want a number from 0 to 1');
  const n = Number(text);
  if (!(n >= 0 && n <= 1)) throw badFlagValue(flag, text, 'want a number from 0 to 1');
  return n;
}
