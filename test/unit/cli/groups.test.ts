// The top-level help lists the command groups from main.ts's table without loading them:
// each entry must say what the group itself says, and `help GROUP` shows the group's help.
import { Command } from 'commander';
import t from 'tap';
import { GROUPS, main } from '../../../src/cli/main.ts';

t.test("each group's one-line summary is the description the group registers", async (t) => {
  for (const g of GROUPS) {
    const program = new Command('shoal');
    (await g.load())(program);
    const registered = program.commands.find((c) => c.name() === g.name);
    t.ok(registered, `${g.name} registers a command of its name`);
    t.equal(registered?.description(), g.summary, g.name);
  }
});

t.test('shoal --help lists every group; shoal help network shows the network commands', async (t) => {
  const written: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  let helpStatus: number;
  let groupStatus: number;
  let topHelp: string;
  try {
    helpStatus = await main(['--help']);
    topHelp = written.join('');
    written.length = 0;
    groupStatus = await main(['help', 'network']);
  } finally {
    process.stdout.write = write;
  }
  t.equal(helpStatus, 0);
  // commander wraps long lines; compare with white space folded
  const folded = topHelp.replace(/\s+/g, ' ');
  for (const g of GROUPS) t.ok(folded.includes(` ${g.name} ${g.summary} `), g.name);
  t.equal(groupStatus, 0);
  const groupHelp = written.join('');
  t.match(groupHelp, /Usage: shoal network/);
  t.match(groupHelp, /^ {2}ls\|list \[options\]/m);
});
