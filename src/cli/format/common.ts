/**
 * Small display helpers shared by the formatters: Docker's capitalised state words, ID
 * truncation, `k=v,k2=v2` label text, Go's time texts, port text.
 */
import { asGoMap } from './template.ts';
import { goTime } from './time.ts';

/** Docker's `command.PrettyPrint`: the first letter in capitals ("running" -> "Running"). */
export function prettyPrint(word: string): string {
  return word === '' ? '' : word[0]!.toUpperCase() + word.slice(1);
}

/** The first 12 characters, unless --no-trunc. */
export function truncId(id: string, noTrunc: boolean): string {
  return noTrunc ? id : id.slice(0, 12);
}

/** Docker's list text of labels: `k=v` pairs joined by commas, sorted by key. */
export function labelsText(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
}

/** A label lookup usable as `{{.Label "key"}}` in --format. */
export function labelMethod(labels: Readonly<Record<string, string>>): (key: unknown) => string {
  return (key: unknown) => (typeof key === 'string' ? (labels[key] ?? '') : '');
}

/** A copy of a string map that prints as a Go map in templates. */
export function goMap(record: Readonly<Record<string, string>> | undefined): Record<string, string> {
  return asGoMap({ ...(record ?? {}) });
}

/** RFC 3339 text of an API timestamp as Go prints it (fraction without trailing zeros). */
export function apiTime(text: string): string {
  const ms = Date.parse(text);
  return text === '' || Number.isNaN(ms) ? '0001-01-01T00:00:00Z' : goTime(ms);
}

/** Go's `time.Time.String()` of an API timestamp: `2024-05-01 10:00:00.5 +0000 UTC`. */
export function goTimeString(text: string): string {
  const iso = apiTime(text);
  const m = /^(\d{4}-\d{2}-\d{2})T([\d:.]+)Z$/.exec(iso);
  return m ? `${m[1]} ${m[2]} +0000 UTC` : iso;
}

/** Milliseconds since the epoch of an API timestamp (NaN when absent). */
export function apiMs(text: string): number {
  return text === '' ? Number.NaN : Date.parse(text);
}

/** Nanoseconds, as Docker's inspect prints durations, from the API's milliseconds. */
export function msToNs(ms: number): number {
  return Math.round(ms * 1e6);
}

/** `"sleep 100"`: Docker's quoted command text, cut to 20 characters with `…` unless noTrunc. */
export function commandText(words: readonly string[], noTrunc: boolean): string {
  let text = words.join(' ');
  const chars = [...text];
  if (!noTrunc && chars.length > 20) text = `${chars.slice(0, 19).join('')}…`;
  return JSON.stringify(text);
}
