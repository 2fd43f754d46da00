/**
 * Durations as Docker's flags accept them (`30s`, `1m30s`, `500ms`, `1.5h`, `0`): Go's
 * duration grammar, a sequence of decimal numbers each followed by a unit (ns, us, µs, ms,
 * s, m, h). A bare number other than 0 is refused ("missing unit"), as Docker refuses it.
 * shoal's flags never take negative durations, so a sign is refused too.
 *
 * The result is in nanoseconds (what Docker's inspect JSON shows) as a JS number: exact up
 * to 2^53 ns, about 104 days, far beyond any interval or grace period anyone sets.
 */
import { badFlagValue } from './usage-error.ts';

const UNIT_NS: Readonly<Record<string, number>> = Object.freeze({
  ns: 1,
  us: 1e3,
  µs: 1e3, // U+00B5 micro sign
  μs: 1e3, // U+03BC Greek mu
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
});

/** Why `text` is not a duration, or null when it is one; see parseDurationNs. */
function durationProblem(text: string): { problem: string } | { ns: number } {
  if (text === '0') return { ns: 0 };
  if (text.startsWith('-')) return { problem: 'duration cannot be negative' };
  const body = text.startsWith('+') ? text.slice(1) : text;
  if (body === '') return { problem: `invalid duration ${JSON.stringify(text)}` };
  let ns = 0;
  let i = 0;
  while (i < body.length) {
    const num = /^(\d*)(?:\.(\d*))?/.exec(body.slice(i));
    const whole = num?.[1] ?? '';
    const frac = num?.[2];
    if (whole === '' && (frac === undefined || frac === '')) return { problem: `invalid duration ${JSON.stringify(text)}` };
    i += (num?.[0] ?? '').length;
    const unitMatch = /^[^\d.]+/.exec(body.slice(i));
    if (!unitMatch) return { problem: `missing unit in duration ${JSON.stringify(text)}` };
    const unit = unitMatch[0];
    const scale = UNIT_NS[unit];
    if (scale === undefined) return { problem: `unknown unit ${JSON.stringify(unit)} in duration ${JSON.stringify(text)}` };
    i += unit.length;
    ns += Number(whole === '' ? '0' : whole) * scale + (frac ? Number(`0.${frac}`) * scale : 0);
  }
  if (!Number.isSafeInteger(Math.round(ns))) return { problem: `duration ${JSON.stringify(text)} is too large` };
  return { ns: Math.round(ns) };
}

/** Parses a duration; throws a UsageError naming `flag` when it is not one. */
export function parseDurationNs(text: string, flag: string): number {
  const r = durationProblem(text);
  if ('problem' in r) throw badFlagValue(flag, text, r.problem);
  return r.ns;
}

/** Same, in milliseconds (fractions of a millisecond are kept). */
export function parseDurationMs(text: string, flag: string): number {
  return parseDurationNs(text, flag) / 1e6;
}

/** Formats nanoseconds the way Go prints a time.Duration (`1m30s`, `500ms`, `0s`). */
export function formatDurationNs(ns: number): string {
  if (ns === 0) return '0s';
  const neg = ns < 0;
  let v = Math.abs(Math.round(ns));
  let out: string;
  if (v < 1e9) {
    // sub-second: the largest unit that keeps a whole part, with a trimmed fraction
    const [unit, scale] = v < 1e3 ? ['ns', 1] : v < 1e6 ? ['µs', 1e3] : ['ms', 1e6];
    out = `${trimFraction(v / scale)}${unit}`;
  } else {
    const h = Math.floor(v / 3600e9);
    v -= h * 3600e9;
    const m = Math.floor(v / 60e9);
    v -= m * 60e9;
    const s = `${trimFraction(v / 1e9)}s`;
    out = h > 0 ? `${h}h${m}m${s}` : m > 0 ? `${m}m${s}` : s;
  }
  return neg ? `-${out}` : out;
}

function trimFraction(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(9).replace(/0+$/, '').replace(/\.$/, '');
}
