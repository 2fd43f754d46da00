/**
 * `-f/--filter key=value` flags of list commands. Each command names the keys it knows;
 * an unknown key or a value without `=` is refused with Docker's wording. A key given
 * several times keeps every value (they are ORed, as in Docker).
 */
import { UsageError } from './usage-error.ts';

export type Filters = ReadonlyMap<string, readonly string[]>;

export function parseFilters(values: readonly string[], allowed: readonly string[]): Filters {
  const out = new Map<string, string[]>();
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new UsageError(`bad format of filter ${JSON.stringify(v)} (expected name=value)`, { filter: v });
    const key = v.slice(0, eq).trim().toLowerCase();
    if (!allowed.includes(key)) {
      throw new UsageError(`invalid filter ${JSON.stringify(key)} (valid filters: ${allowed.join(', ')})`, { filter: v });
    }
    const list = out.get(key) ?? [];
    list.push(v.slice(eq + 1));
    out.set(key, list);
  }
  return out;
}

/** Docker's label filter: `key` matches when the label is present, `key=value` when equal. */
export function matchesLabelFilters(labels: Readonly<Record<string, string>>, wanted: readonly string[] | undefined): boolean {
  if (!wanted) return true;
  return wanted.every((w) => {
    const eq = w.indexOf('=');
    if (eq < 0) return Object.hasOwn(labels, w);
    return labels[w.slice(0, eq)] === w.slice(eq + 1);
  });
}

/** A boolean filter value (`true`/`false`, also `1`/`0`). */
export function filterBool(key: string, value: string): boolean {
  const v = value.toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new UsageError(`invalid filter '${key}=${value}': want true or false`, { filter: `${key}=${value}` });
}
