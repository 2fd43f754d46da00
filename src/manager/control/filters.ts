/**
 * The list filters every `ls` shares, with Docker's meaning: `id` matches a prefix, `name`
 * a substring, `label` a key (`--filter label=k`) or a key and value (`label=k=v`); several
 * values of one filter match any of them, several labels must all match.
 */

export function matchesLabels(labels: Record<string, string>, filters: readonly string[] | undefined): boolean {
  for (const f of filters ?? []) {
    const eq = f.indexOf('=');
    if (eq < 0 ? !(f in labels) : labels[f.slice(0, eq)] !== f.slice(eq + 1)) return false;
  }
  return true;
}

export function matchesIds(id: string, filters: readonly string[] | undefined): boolean {
  return !filters || filters.length === 0 || filters.some((f) => id.startsWith(f));
}

export function matchesNames(name: string, filters: readonly string[] | undefined): boolean {
  return !filters || filters.length === 0 || filters.some((f) => name.includes(f));
}
