/**
 * Column alignment as Docker's `ls` tables do it (Go's text/tabwriter with minimum width
 * 10, tab width 1, padding 3, padding with spaces): a cell is text ended by a tab; each
 * column is as wide as its widest cell plus 3, and at least 10; the text after a line's last
 * tab is not aligned and gets no padding. Consecutive lines that have a cell in a column
 * form one block aligned together, so a line with fewer cells starts new blocks, as in Go.
 * Widths count characters (code points), as Go counts runes.
 */

export interface TabwriterOptions {
  /** Smallest column width, padding included (Docker: 10). */
  readonly minWidth: number;
  /** Spaces added to the widest cell of a column (Docker: 3). */
  readonly padding: number;
}

export const DOCKER_TABLE: TabwriterOptions = Object.freeze({ minWidth: 10, padding: 3 });

function width(s: string): number {
  return [...s].length;
}

/** Aligns `text` (lines separated by \n, cells by \t); the result keeps the line structure. */
export function alignColumns(text: string, options: TabwriterOptions = DOCKER_TABLE): string {
  const endsWithNewline = text.endsWith('\n');
  const lines = (endsWithNewline ? text.slice(0, -1) : text).split('\n').map((l) => l.split('\t'));
  // widths[line][column] for every terminated cell (all but the last piece of a line)
  const widths: number[][] = lines.map(() => []);

  const format = (line0: number, line1: number, column: number): void => {
    let start = line0;
    while (start < line1) {
      // skip lines with no cell in this column
      if ((lines[start] as string[]).length - 1 <= column) {
        start++;
        continue;
      }
      let end = start;
      let w = options.minWidth;
      while (end < line1 && (lines[end] as string[]).length - 1 > column) {
        w = Math.max(w, width((lines[end] as string[])[column] as string) + options.padding);
        end++;
      }
      for (let i = start; i < end; i++) (widths[i] as number[])[column] = w;
      format(start, end, column + 1);
      start = end;
    }
  };
  format(0, lines.length, 0);

  const out = lines.map((cells, i) =>
    cells
      .map((cell, c) => {
        const w = (widths[i] as number[])[c];
        return c === cells.length - 1 || w === undefined ? cell : cell + ' '.repeat(w - width(cell));
      })
      .join(''),
  );
  return out.join('\n') + (endsWithNewline ? '\n' : '');
}
