/**
 * Output of list commands (`network ls`, `service ls`, `service ps`, `node ls`,
 * `container ls`) the way Docker prints them: a row is an object of display strings (Docker's
 * "format context": `ID`, `Name`, `Ports`, ... already truncated and worded), a default table
 * template names the columns, and --format can pick other columns, a plain template, or JSON.
 *
 * Table headers come from running the template against an object that maps each field to
 * its header (`ID` -> `NETWORK ID`), as Docker does, so `table {{.Name}}\t{{.Driver}}` gets
 * `NAME  DRIVER` for free.
 */
import type { FormatOption } from '../parse/format-option.ts';
import { alignColumns } from './tabwriter.ts';
import { executeTemplate, parseTemplate } from './template.ts';

/** A row: display strings (and booleans for `{{if}}`), plus methods such as `Label "k"`. */
export type Row = Readonly<Record<string, string | boolean | ((...args: unknown[]) => string)>>;

export interface ListLayout {
  /** The table Docker prints by default, e.g. `table {{.ID}}\t{{.Name}}`. */
  readonly defaultTable: string;
  /** Field -> header text; fields not listed get their name in capitals. */
  readonly headers: Readonly<Record<string, string>>;
}

function headerRow(layout: ListLayout, sample: Row | undefined): Record<string, unknown> {
  const header: Record<string, unknown> = {};
  const fields = new Set([...Object.keys(layout.headers), ...Object.keys(sample ?? {})]);
  for (const f of fields) {
    const h = layout.headers[f] ?? f.toUpperCase();
    header[f] = typeof sample?.[f] === 'function' ? () => h : typeof sample?.[f] === 'boolean' ? false : h;
  }
  return header;
}

/** The JSON Docker prints for one row with `--format json`: its string fields, keys sorted. */
export function rowJson(row: Row): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  for (const k of Object.keys(row).sort()) {
    const v = row[k];
    if (typeof v === 'string' || typeof v === 'boolean') out[k] = v;
  }
  return out;
}

/** Renders rows per --format; the result ends with a newline unless it is empty. */
export function renderList(rows: readonly Row[], layout: ListLayout, format: FormatOption): string {
  switch (format.kind) {
    case 'json':
      return rows.map((r) => `${JSON.stringify(rowJson(r))}\n`).join('');
    case 'template':
      return rows.map((r) => `${executeTemplate(format.template, r)}\n`).join('');
    case 'default':
    case 'table': {
      const tpl =
        format.kind === 'table' && format.template ? format.template : parseTemplate(layout.defaultTable.replace(/^table\s*/, ''));
      const lines = [executeTemplate(tpl, headerRow(layout, rows[0])), ...rows.map((r) => executeTemplate(tpl, r))];
      return alignColumns(`${lines.join('\n')}\n`);
    }
  }
}

/** `-q`: one value per line (IDs, usually). */
export function renderQuiet(values: readonly string[]): string {
  return values.map((v) => `${v}\n`).join('');
}
