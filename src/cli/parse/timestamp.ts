/**
 * Points in time as Docker's `--since`/`--until` and the prune filter `until=` accept them:
 *   - a duration before now: `10m`, `1h30m`, `45s` (Go's grammar, parse/duration.ts);
 *   - a Unix timestamp: seconds, with an optional fraction (`1700000000`, `1700000000.5`);
 *   - an RFC 3339 timestamp (`2024-05-01T10:00:00Z`, `2024-05-01T10:00:00.5+02:00`), or the
 *     shorter forms Docker takes: a date (`2024-05-01`), a date with a zone
 *     (`2024-05-01Z`, `2024-05-01+02:00`), date and time without seconds or zone
 *     (`2024-05-01T10:00`, `2024-05-01T10:00:00`). Without a zone the time is this
 *     machine's local time, as Docker reads it.
 * The result is milliseconds since the epoch.
 */
import { parseDurationMs } from './duration.ts';
import { badFlagValue } from './usage-error.ts';

const UNIX_RE = /^\d+(\.\d+)?$/;
const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?(Z|[+-]\d{2}:\d{2})?$/;

/** `text` as a point in time, ms since the epoch; `nowMs` anchors durations. */
export function parseTimestampMs(text: string, nowMs: number, flag: string): number {
  const v = text.trim();
  if (UNIX_RE.test(v)) return Math.round(Number(v) * 1000);
  const m = DATE_RE.exec(v);
  if (m) {
    // without a zone, Date.parse reads a date and time as local time
    const iso = `${m[1]}-${m[2]}-${m[3]}T${m[4] ?? '00'}:${m[5] ?? '00'}:${m[6] ?? '00'}${m[7] ?? ''}${m[8] ?? ''}`;
    const ms = Date.parse(iso);
    if (!Number.isNaN(ms)) return ms;
  }
  let ms: number;
  try {
    ms = parseDurationMs(v, flag);
  } catch {
    throw badFlagValue(flag, text, 'want a duration (10m), a Unix timestamp or an RFC 3339 date');
  }
  return nowMs - Math.round(ms);
}
