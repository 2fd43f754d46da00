/**
 * docs/cli.md is generated from the command definitions (scripts/cli-docs.ts): every
 * command, usage line, argument, flag and default it lists is one the program defines. This
 * test fails when the file is not what the definitions and the notes in docs/cli/ make, and
 * when a note speaks of a command or flag that does not exist.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { CLI_DOC, parseNotes, renderCliDoc } from '../../../scripts/cli-docs.ts';
import { GROUPS } from '../../../src/cli/main.ts';

const page = await renderCliDoc();

t.test('docs/cli.md is what the command definitions generate', async (t) => {
  const current = readFileSync(CLI_DOC, 'utf8');
  t.ok(current === page, 'docs/cli.md is out of date with the command definitions or docs/cli/*.md: run `npm run docs:cli`');
});

t.test('the page lists every command group and every flag of every command', async (t) => {
  for (const g of GROUPS) t.match(page, new RegExp(`^## ${g.name}$`, 'm'), `group ${g.name} has a section`);
  t.match(page, /^### network create$/m);
  t.match(page, /^\| `-d, --driver <driver>` \| driver to manage the network \| `overlay` \|$/m, 'a flag with its default');
  t.match(page, /^\| `--listen-addr <ip:port>` \| .* \| `0\.0\.0\.0:2377` \|$/m, 'the daemons are included');
});

t.test('notes are split by command path; a duplicated section is refused', async (t) => {
  const notes = parseNotes('<!-- about -->\nlead\n\n## network create\n\none\n\n## network ls\n\ntwo\n');
  t.equal(notes.lead, 'lead');
  t.same(
    [...notes.sections],
    [
      ['network create', 'one'],
      ['network ls', 'two'],
    ],
  );
  t.throws(() => parseNotes('## a\n\nx\n\n## a\n\ny\n'), /section "a" appears twice/);
});
