/**
 * The `--format` flag, as Docker reads it:
 *
 *   (absent or "")      the command's default output (a table for ls, indented JSON for inspect)
 *   json                one compact JSON object per line
 *   table               the default table
 *   table TEMPLATE      a table with the columns the template names (headers come first)
 *   TEMPLATE            the template once per object, no header, no alignment
 *
 * In list templates the two-character sequences `\t` and `\n` stand for a tab and a newline,
 * so `--format 'table {{.ID}}\t{{.Name}}'` works from any shell, as in Docker.
 */
import { parseTemplate } from '../format/template.ts';
import type { Template } from '../format/template.ts';

export type FormatOption =
  | { readonly kind: 'default' }
  | { readonly kind: 'json' }
  | { readonly kind: 'table'; readonly template: Template | undefined }
  | { readonly kind: 'template'; readonly template: Template };

function unescapeTemplate(text: string): string {
  return text.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
}

/** Reads --format for a list command (`ls`, `ps`). Throws a UsageError for a malformed template. */
export function parseListFormat(text: string | undefined): FormatOption {
  if (text === undefined || text === '') return { kind: 'default' };
  if (text.trim().toLowerCase() === 'json') return { kind: 'json' };
  if (text.startsWith('table')) {
    const rest = text.slice('table'.length).trim();
    return { kind: 'table', template: rest === '' ? undefined : parseTemplate(unescapeTemplate(rest)) };
  }
  return { kind: 'template', template: parseTemplate(unescapeTemplate(text)) };
}

/** Reads --format for an inspect command (`json` is `{{json .}}`, anything else a template). */
export function parseInspectFormat(text: string | undefined): FormatOption {
  if (text === undefined || text === '') return { kind: 'default' };
  if (text.trim().toLowerCase() === 'json') return { kind: 'json' };
  return { kind: 'template', template: parseTemplate(text) };
}
