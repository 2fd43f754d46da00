/**
 * Generates the code tables of docs/errors.md from the error tables themselves
 * (`defineErrorCodes` in each subsystem's errors module), so that the list an operator reads
 * is the list the code declares. A unit test checks that the file is current.
 *
 *   node --import tsx scripts/error-docs.ts          prints the generated part
 *   node --import tsx scripts/error-docs.ts --write  rewrites docs/errors.md below the marker
 *   (npm run docs:errors does the latter)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ErrorCodes } from '../src/common/errors.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const ERRORS_DOC = join(ROOT, 'docs', 'errors.md');

/** Every module that declares an error table, in the order the docs list them. */
export const ERROR_TABLE_MODULES = [
  'src/api/errors.ts',
  'src/common/errors.ts',
  'src/ipam/errors.ts',
  'src/gossip/errors.ts',
  'src/overlay/errors.ts',
  'src/agent/errors.ts',
  'src/agent/tasks/errors.ts',
  'src/vip/errors.ts',
  'src/dns/errors.ts',
];

/** The line after which docs/errors.md is generated. */
export const GENERATED_MARKER = '<!-- Generated from the error tables by `npm run docs:errors`: edit the tables, not this part. -->';

function isTable(value: unknown): value is ErrorCodes<string> {
  return typeof value === 'object' && value !== null && 'codes' in value && 'table' in value && 'error' in value;
}

/** The generated part: one section per table, each code with its category, status and when. */
export async function renderErrorTables(): Promise<string> {
  const { statusNameOf } = await import('../src/api/errors.ts');
  const sections: string[] = [];
  for (const path of ERROR_TABLE_MODULES) {
    const mod = (await import(join(ROOT, path))) as Record<string, unknown>;
    for (const table of Object.values(mod).filter(isTable)) {
      const rows = table.codes.map((code) => {
        const [category, when] = table.table[code]!;
        const status = statusNameOf(code, category);
        return `| ${code} | ${category} (${status}) | ${when} |`;
      });
      sections.push(
        [`## ${table.name} (\`${path}\`)`, '', '| code | category (gRPC status) | when |', '|---|---|---|', ...rows].join('\n'),
      );
    }
  }
  return `${sections.join('\n\n')}\n`;
}

/** docs/errors.md as it should be: the hand-written part, the marker, the generated part. */
export async function expectedErrorsDoc(current: string): Promise<string> {
  const at = current.indexOf(GENERATED_MARKER);
  const head = at < 0 ? `${current.trimEnd()}\n\n` : current.slice(0, at);
  return `${head}${GENERATED_MARKER}\n\n${await renderErrorTables()}`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const current = readFileSync(ERRORS_DOC, 'utf8');
  const next = await expectedErrorsDoc(current);
  if (process.argv.includes('--write')) {
    if (next !== current) writeFileSync(ERRORS_DOC, next);
    process.stderr.write(next === current ? 'docs/errors.md is current\n' : 'docs/errors.md rewritten\n');
  } else {
    process.stdout.write(await renderErrorTables());
  }
}
