/**
 * Every error code shoal can return is documented, in the words of the table that declares
 * it: docs/errors.md's code tables are generated from the tables (scripts/error-docs.ts), and
 * this test fails when the file is not what the tables say. Codes are API: an operator who
 * sees one in the CLI's one-line error must find it there.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { ERROR_TABLE_MODULES, ERRORS_DOC, expectedErrorsDoc } from '../../../scripts/error-docs.ts';
import { declaredErrorTables } from '../../../src/common/errors.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

t.test('docs/errors.md holds exactly the declared tables (run `npm run docs:errors` after changing one)', async (t) => {
  const current = readFileSync(ERRORS_DOC, 'utf8');
  t.equal(current, await expectedErrorsDoc(current));
});

t.test('every module that declares a table is listed by the generator', async (t) => {
  const declaring = execFileSync('grep', ['-rlE', 'defineErrorCodes\\(.', 'src'], { cwd: root, encoding: 'utf8' })
    .split('\n')
    .filter((f) => f !== '' && f !== 'src/common/errors.ts' && !/\.md$/.test(f));
  const listed = new Set(ERROR_TABLE_MODULES);
  t.same(
    declaring.filter((f) => !listed.has(f)),
    [],
  );
  await expectedErrorsDoc('');
  const codes = declaredErrorTables().flatMap((table) => table.codes);
  t.ok(codes.length > 80, `${codes.length} codes declared`);
  t.equal(new Set(codes).size, codes.length, 'no code in two tables');
});
