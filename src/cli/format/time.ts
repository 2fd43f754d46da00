/**
 * Times as Docker prints them: RFC 3339 with nanoseconds, trailing zeros of the fraction
 * dropped (Go's RFC3339Nano) in inspect output, all nine digits kept before log lines;
 * "About a minute", "3 hours" in tables (the thresholds of Docker's go-units
 * HumanDuration, rounded the same way).
 */

/** `2024-05-01T10:00:00.123Z` style text, in UTC, of a time in milliseconds since the epoch. */
export function goTime(ms: number): string {
  if (!Number.isFinite(ms)) return '0001-01-01T00:00:00Z';
  const iso = new Date(ms).toISOString(); // always .sss
  const [main, frac = ''] = iso.slice(0, -1).split('.');
  const trimmed = frac.replace(/0+$/, '');
  return `${main}${trimmed === '' ? '' : `.${trimmed}`}Z`;
}

/** Docker's log timestamp (`logs -t`): RFC 3339 in UTC with all nine fraction digits (`2024-05-01T10:00:00.120000000Z`). */
export function logTimestamp(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2024-05-01T10:00:00.120Z
  return `${iso.slice(0, 23)}000000Z`;
}

/** Docker's human text of an elapsed time in milliseconds ("Less than a second", "2 weeks"). */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.floor(ms / 3_600_000 + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(ms / 3_600_000 / 24 / 365)} years`;
}

/** "3 minutes ago", as `service ps` and `container ls` show ages. */
export function ago(nowMs: number, thenMs: number): string {
  return `${humanDuration(Math.max(0, nowMs - thenMs))} ago`;
}
