// The testbed's pure helpers: each host's agent prefix (fits the agent's 12 characters,
// differs per host and per testbed) and the start time read from /proc/PID/stat (which,
// with the PID, tells a recorded process from a later one that reuses its PID).
import t from 'tap';
import { parseStartTime } from '../../../src/testbed/processes.ts';
import { testbedPaths } from '../../../src/testbed/state.ts';
import { agentPrefix, MAX_HOSTS, Testbed } from '../../../src/testbed/testbed.ts';

/** What `shoal agent --prefix` accepts (src/cli/agent.ts). */
const AGENT_PREFIX_RE = /^[a-z0-9][a-z0-9.-]{0,11}$/i;

t.test("agent prefixes: the host's namespace name for short testbed prefixes, a hash for long ones", async (t) => {
  t.equal(agentPrefix('shoal-', 2), 'shoal-h2-');
  t.equal(agentPrefix('tb.x-', 200), 'tb.x-h200-');
  const long = agentPrefix('shoal-t1a2b3c-', 3);
  t.match(long, /^tb[0-9a-f]{5}h3-$/);
  t.equal(agentPrefix('shoal-t1a2b3c-', 3), long, 'the same for the same testbed');
  t.not(agentPrefix('shoal-t1a2b3d-', 3), long, 'another for another testbed');
  t.match(agentPrefix('a_b', 1), /^tb[0-9a-f]{5}h1-$/, "'_' is not in the agent's alphabet");
  for (const prefix of ['shoal-', 'x', 'abcdefg', 'abcdefgh', 'shoal-t1a2b3c-', 'with_underscore-']) {
    for (const host of [1, 9, 10, 99, MAX_HOSTS]) {
      const p = agentPrefix(prefix, host);
      t.ok(AGENT_PREFIX_RE.test(p) && p.endsWith('-'), `${prefix} h${host}: ${p} is a valid agent prefix`);
    }
  }
});

t.test('testbed prefixes name files: refused unless letters, digits, ".", "_", "-"', async (t) => {
  for (const bad of ['', '../x', 'a/b', '-a', 'a b', 'x'.repeat(41)]) {
    t.throws(() => new Testbed({ prefix: bad }), { code: 'SHOAL_ERR_INVALID_ARGUMENT' }, JSON.stringify(bad));
  }
  t.equal(new Testbed({ prefix: 'shoal-t1-' }).config.prefix, 'shoal-t1-');
  const p = testbedPaths('shoal-t1-', '/run/x');
  t.same(
    [p.stateFile, p.dataDir(1), p.managerLog, p.agentLog(3)],
    ['/run/x/shoal-t1-/state.json', '/run/x/shoal-t1-/data/h1', '/run/x/shoal-t1-/logs/manager.log', '/run/x/shoal-t1-/logs/agent-h3.log'],
  );
});

t.test('start time is field 22 of /proc/PID/stat, also when the command name holds spaces and parentheses', async (t) => {
  const fields = (comm: string): string =>
    `4242 (${comm}) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 2 0 0 20 0 1 0 987654 12345678 100 18446744073709551615`;
  t.equal(parseStartTime(fields('node')), 987654);
  t.equal(parseStartTime(fields('a) b (c')), 987654);
  t.equal(parseStartTime('garbage'), undefined);
});
