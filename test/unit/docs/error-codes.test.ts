/**
 * Every error code shoal can return is documented: codes are API, and an operator who
 * sees one in the CLI's one-line error must find it in docs/.
 */
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { declaredErrorTables } from '../../../src/common/errors.ts';
// each subsystem declares its codes when its errors module loads
import '../../../src/ipam/errors.ts';
import '../../../src/gossip/errors.ts';
import { API_ERROR_CODES } from '../../../src/api/errors.ts';

const docsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../docs');

t.test('every registered error code appears in docs/', async (t) => {
  const docs = readdirSync(docsDir)
    .filter((f) => f.endsWith('.md'))
    .map((f) => readFileSync(path.join(docsDir, f), 'utf8'))
    .join('\n');
  // the API's codes are registered without a table (registerErrorCodes), so they are listed here
  const codes = [...declaredErrorTables().flatMap((table) => table.codes), ...Object.keys(API_ERROR_CODES)].filter(
    (c) => c !== 'SHOAL_ERR_TEST_ONLY',
  );
  t.ok(codes.length > 50, `${codes.length} codes registered`);
  const missing = codes.filter((c) => !new RegExp(`\\b${c}\\b`).test(docs));
  t.same(missing, [], 'no undocumented code');
});
