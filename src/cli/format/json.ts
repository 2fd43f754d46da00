/**
 * JSON text as Docker prints it. `inspect` prints a JSON array indented by four spaces, one
 * element per object, with `<`, `>`, `&`, U+2028 and U+2029 escaped inside strings as Go's
 * encoding/json does by default. `--format json` and `{{json .}}` print compact JSON
 * without that escaping (Docker's template function turns it off).
 */

const GO_ESCAPES: Readonly<Record<string, string>> = Object.freeze({
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
});

/** Go's escaping of HTML-significant characters; outside strings JSON never has them. */
export function goEscapeJson(text: string): string {
  return text.replace(/[<>&\u2028\u2029]/g, (c) => GO_ESCAPES[c] ?? c);
}

/** Docker's `inspect` output: `[` objects indented by 4 `]`, or `[]` for none. */
export function inspectJson(objects: readonly unknown[]): string {
  return `${goEscapeJson(JSON.stringify(objects, null, 4))}\n`;
}

/** One compact JSON object per line, as `--format json` prints lists. */
export function jsonLines(objects: readonly unknown[]): string {
  return objects.map((o) => `${JSON.stringify(o)}\n`).join('');
}
