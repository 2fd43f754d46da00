// The verbs `node ps`, `info`, `logs --follow/--since/--timestamps`, `network prune
// --filter` and generated service names, without a cluster: parsing, the follow loop's
// cursors against scripted polls, the log time index, and the output each command prints
// against a recording fake of the API.
import t from 'tap';
import { Command, CommanderError } from 'commander';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultServiceSpec } from '../../../src/api/api-defaults.ts';
import type { LogChunk, Network, Swarm, Task } from '../../../src/api/api-types.ts';
import { apiError } from '../../../src/api/errors.ts';
import type { NodeInfo } from '../../../src/agent/node-info.ts';
import { byteTime, lineTimes, offsetSince, parseLogTimes } from '../../../src/agent/tasks/log-times.ts';
import { readLog } from '../../../src/agent/tasks/logs.ts';
import type { CliContext } from '../../../src/cli/client-options.ts';
import { infoText, infoView, registerInfoCommand } from '../../../src/cli/info.ts';
import type { LocalAgentProbe } from '../../../src/cli/local-agent.ts';
import { LogCursors, followLogs } from '../../../src/cli/log-follow.ts';
import type { FollowedLines } from '../../../src/cli/log-follow.ts';
import { parseSince, serviceLogText, stampedLog } from '../../../src/cli/logs.ts';
import { logTimestamp } from '../../../src/cli/format/time.ts';
import { parsePruneFilters, pruneMatches, registerNetworkCommands } from '../../../src/cli/network.ts';
import { nodePsTargets, registerNodeCommands } from '../../../src/cli/node.ts';
import { parseTimestampMs } from '../../../src/cli/parse/timestamp.ts';
import { isUsageError } from '../../../src/cli/parse/usage-error.ts';
import { NAME_ADJECTIVES, NAME_NOUNS, generateServiceName } from '../../../src/manager/service-names.ts';
import type { ApiImpl } from '../../support/recording-api.ts';
import { recordingApi } from '../../support/recording-api.ts';
import { nodeObject as node } from '../../support/api-objects.ts';

const NOW = Date.parse('2026-11-22T12:00:00Z');

// ------------------------------------------------------------------------------ fixtures

function task(id: string, slot: number, over: Partial<Task> = {}): Task {
  const spec = defaultServiceSpec('web').taskTemplate;
  spec.command = ['sleep', '1000'];
  return {
    id,
    version: 1,
    createdAt: '2026-11-22T11:00:00Z',
    updatedAt: '2026-11-22T11:00:00Z',
    serviceId: 's1',
    serviceName: 'web',
    slot,
    nodeId: 'node1xxxxxxxxxxxxxxxxxxxx',
    desiredState: 'running',
    status: { state: 'running', message: '', err: '', timestamp: '2026-11-22T11:00:00Z', exitCode: 0, health: '' },
    spec,
    networks: [],
    specVersion: 1,
    name: `web.${slot}.${id}`,
    hostPorts: [],
    drained: false,
    ...over,
  };
}

function network(name: string, over: Partial<Network> = {}): Network {
  return {
    id: `${name}xxxxxxxxxxxxxxxxxxxxxxxx`.slice(0, 25),
    version: 1,
    createdAt: '2026-11-22T10:00:00Z',
    updatedAt: '2026-11-22T10:00:00Z',
    spec: { ...{ name, labels: {} }, ...(over.spec ?? {}) } as Network['spec'],
    vxlanId: 4097,
    ipam: [],
    ...over,
  } as Network;
}

const chunk = (fields: Partial<LogChunk>): LogChunk => ({
  taskId: 'task1xxxxxxxxxxxxxxxxxxxx',
  taskName: 'web.1.task1xxxxxxxxxxxxxxxxxxxx',
  nodeId: 'node1xxxxxxxxxxxxxxxxxxxx',
  data: new Uint8Array(),
  containerId: '',
  serviceName: 'web',
  slot: 1,
  errorCode: '',
  errorMessage: '',
  end: 0,
  ended: false,
  lineTimes: [],
  ...fields,
});

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));
const text = (l: FollowedLines): string => Buffer.from(l.data).toString('utf8');

interface Run {
  status: number;
  out: string;
  err: string;
  calls: [string, ...unknown[]][];
}

async function run(
  argv: string[],
  impl: ApiImpl,
  probe: LocalAgentProbe = async () => ({ socket: '/x/agent.sock', info: undefined, why: 'no agent is running on it' }),
): Promise<Run> {
  const r: Run = { status: 0, out: '', err: '', calls: [] };
  const api = recordingApi(r.calls, impl);
  const ctx: CliContext = {
    connect: () => api,
    out: (s) => void (r.out += s),
    err: (s) => void (r.err += s),
    readLine: async () => 'y',
    now: () => NOW,
    env: {},
  };
  const program = new Command('shoal').exitOverride();
  const capture = { writeOut: (s: string) => void (r.out += s), writeErr: (s: string) => void (r.err += s) };
  program.configureOutput(capture);
  registerNodeCommands(program, ctx, probe);
  registerNetworkCommands(program, ctx);
  registerInfoCommand(program, ctx, probe);
  for (const g of program.commands) {
    g.configureOutput({ ...g.configureOutput(), ...capture });
    for (const c of g.commands) c.configureOutput({ ...c.configureOutput(), ...capture });
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    r.status = err.exitCode;
  }
  return r;
}

const INFO: NodeInfo = {
  nodeId: 'node1xxxxxxxxxxxxxxxxxxxx',
  prefix: 'shoal-',
  advertiseAddr: '192.0.2.11',
  gossipPort: 7946,
  connected: true,
  networks: 2,
  sandboxes: 3,
  loadBalancedServices: 1,
  lbTables: 2,
  resolver: { sandboxes: 3, queries: 12 },
  workloads: { running: 3, total: 4 },
};

// ------------------------------------------------------------------------------ names

t.test('generated service names: adjective-noun, valid DNS labels, drawn again on collision', async (t) => {
  const label = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
  const invalid = NAME_ADJECTIVES.flatMap((a) => NAME_NOUNS.map((n) => `${a}-${n}`)).filter((n) => !label.test(n));
  t.same(invalid, [], 'every pair is a DNS label');
  t.equal(new Set(NAME_ADJECTIVES).size, NAME_ADJECTIVES.length, 'no adjective twice');
  t.equal(new Set(NAME_NOUNS).size, NAME_NOUNS.length, 'no noun twice');
  // a scripted draw: first pair taken, the second free
  const draws = [0, 0, 1, 2];
  const taken = new Set([`${NAME_ADJECTIVES[0]}-${NAME_NOUNS[0]}`]);
  const name = generateServiceName(
    (n) => taken.has(n),
    () => draws.shift() ?? 0,
  );
  t.equal(name, `${NAME_ADJECTIVES[1]}-${NAME_NOUNS[2]}`);
  // everything plain taken: a number is appended
  const suffixed = generateServiceName(
    (n) => !/-\d+$/.test(n),
    () => 0,
  );
  t.equal(suffixed, `${NAME_ADJECTIVES[0]}-${NAME_NOUNS[0]}-0`);
  t.equal(
    generateServiceName(
      () => true,
      () => 0,
    ),
    undefined,
    'gives up when every draw is taken',
  );
  const seen = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const n = generateServiceName((x) => seen.has(x));
    t.ok(n !== undefined && !seen.has(n));
    seen.add(n as string);
  }
});

// ------------------------------------------------------------------------------ times

t.test("--since and until=: Docker's forms of a time", async (t) => {
  t.equal(parseTimestampMs('10m', NOW, '--since'), NOW - 600_000);
  t.equal(parseTimestampMs('1h30m', NOW, '--since'), NOW - 5_400_000);
  t.equal(parseTimestampMs('1700000000', NOW, '--since'), 1_700_000_000_000);
  t.equal(parseTimestampMs('1700000000.25', NOW, '--since'), 1_700_000_000_250);
  t.equal(parseTimestampMs('2026-11-22T10:00:00Z', NOW, '--since'), Date.parse('2026-11-22T10:00:00Z'));
  t.equal(parseTimestampMs('2026-11-22T10:00:00.5+02:00', NOW, '--since'), Date.parse('2026-11-22T08:00:00.5Z'));
  t.equal(parseTimestampMs('2026-11-22Z', NOW, '--since'), Date.parse('2026-11-22T00:00:00Z'));
  t.equal(parseTimestampMs('2026-11-22T10:00', NOW, '--since'), new Date(2026, 10, 22, 10, 0, 0).getTime(), 'no zone: local time');
  for (const bad of ['yesterday', '10x', '-5m', '2026-13-45', '']) {
    t.throws(() => parseTimestampMs(bad, NOW, '--since'), { code: 'SHOAL_ERR_INVALID_ARGUMENT' }, bad);
  }
  t.equal(parseSince(undefined, NOW), undefined);
  t.equal(parseSince('30s', NOW), NOW - 30_000);
});

t.test('log timestamps as Docker prints them, before the task prefix', async (t) => {
  t.equal(logTimestamp(Date.parse('2026-11-22T10:00:00.12Z')), '2026-11-22T10:00:00.120000000Z');
  const ms = [Date.parse('2026-11-22T10:00:01Z'), Date.parse('2026-11-22T10:00:02Z')];
  t.equal(
    Buffer.from(stampedLog(bytes('one\ntwo'), ms)).toString(),
    '2026-11-22T10:00:01.000000000Z one\n2026-11-22T10:00:02.000000000Z two',
  );
  t.equal(Buffer.from(stampedLog(bytes('one\n'), undefined)).toString(), 'one\n', 'without -t the bytes as they are');
  const f = { noTaskIds: true, noTrunc: false, raw: false, nodeNames: new Map([['node1xxxxxxxxxxxxxxxxxxxx', 'h1']]), slotWidth: 1 };
  const c = chunk({ data: bytes('one\ntwo\n'), lineTimes: ms });
  t.equal(
    serviceLogText(c, { ...f, timestamps: true }),
    '2026-11-22T10:00:01.000000000Z web.1@h1    | one\n2026-11-22T10:00:02.000000000Z web.1@h1    | two\n',
  );
  t.equal(serviceLogText(c, f), 'web.1@h1    | one\nweb.1@h1    | two\n');
});

t.test("the log time index: a byte's time, the offset since a time, each line's time", async (t) => {
  const records = parseLogTimes('4 1000\n10 2000\ntorn\n15 3000\n16');
  t.same(records, [
    { size: 4, ms: 1000 },
    { size: 10, ms: 2000 },
    { size: 15, ms: 3000 },
  ]);
  t.same(
    [0, 3, 4, 9, 10, 14, 15, 99].map((o) => byteTime(records, o, 9000)),
    [1000, 1000, 2000, 2000, 3000, 3000, 9000, 9000],
  );
  t.same(
    [0, 1000, 1500, 2000, 2500, 3500].map((ms) => offsetSince(records, ms)),
    [0, 0, 4, 4, 10, 15],
  );
  // "abc\n" (0-3) "defgh\n" (4-9) "ijkl\n" (10-14) "m" (15): the last line is not indexed yet
  t.same(lineTimes(records, 0, bytes('abc\ndefgh\nijkl\nm'), 9000), [1000, 2000, 3000, 9000]);
  t.same(lineTimes(records, 4, bytes('defgh\n'), 9000), [2000]);
});

t.test('readLog: from an offset, the tail, and since a byte (from the start of its line)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-verbs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'output.log');
  writeFileSync(path, 'abc\ndefgh\nijkl\n');
  const read = async (opts: Parameters<typeof readLog>[1]): Promise<[string, number]> => {
    const r = await readLog(path, opts);
    return [r.data.toString(), r.end];
  };
  t.same(await read({}), ['abc\ndefgh\nijkl\n', 15]);
  t.same(await read({ offset: 4 }), ['defgh\nijkl\n', 15]);
  t.same(await read({ offset: 15 }), ['', 15], 'at the end: nothing, same cursor');
  t.same(await read({ offset: 99 }), ['abc\ndefgh\nijkl\n', 15], 'past the end (replaced): from 0');
  t.same(await read({ tail: 1 }), ['ijkl\n', 15]);
  t.same(await read({ since: 6 }), ['defgh\nijkl\n', 15], 'byte 6 is in the line that starts at 4');
  t.same(await read({ since: 4 }), ['defgh\nijkl\n', 15]);
  t.same(await read({ since: 15 }), ['', 15]);
  t.same(await read({ since: 0, tail: 1 }), ['ijkl\n', 15], 'since and tail: the later start');
  t.same(await readLog(join(dir, 'none'), { offset: 3 }), { data: Buffer.alloc(0), end: 0 });
});

// ------------------------------------------------------------------------------ follow

t.test('follow cursors: complete lines once, partial lines held, each log from its own end', async (t) => {
  const c = new LogCursors(2);
  t.same(c.request(), { offsets: {}, tail: 2 }, 'the first poll asks for the tail');
  let r = c.take([
    chunk({ data: bytes('a\nb\npar'), end: 7, lineTimes: [1, 2, 3] }),
    chunk({ taskId: 'task2', data: bytes('x\n'), end: 2, lineTimes: [5] }),
  ]);
  t.same(
    r.lines.map((l) => [text(l), l.times]),
    [
      ['a\nb\n', [1, 2]],
      ['x\n', [5]],
    ],
  );
  t.same(c.request(), { offsets: { task1xxxxxxxxxxxxxxxxxxxx: 7, task2: 2 } }, 'later polls: cursors, no tail');
  r = c.take([chunk({ data: bytes('tial\nc\n'), end: 14, lineTimes: [4, 6] }), chunk({ taskId: 'task2', end: 2 })]);
  t.same(
    r.lines.map((l) => [text(l), l.times]),
    [['partial\nc\n', [4, 6]]],
    'the held part completed by the next read',
  );
  r = c.take([
    chunk({ data: bytes('last'), end: 18, ended: true, lineTimes: [7] }),
    chunk({ taskId: 'task3', data: bytes('new\n'), end: 4, lineTimes: [8] }),
  ]);
  t.same(r.lines.map(text), ['last', 'new\n'], "an ended log's last line is printed as it is; a new task's log from its start");
  t.notOk(c.allEnded());
  r = c.take([chunk({ errorCode: 'SHOAL_ERR_AGENT_UNAVAILABLE', errorMessage: 'down' })]);
  t.equal(r.errors.length, 1);
  r = c.take([chunk({ errorCode: 'SHOAL_ERR_AGENT_UNAVAILABLE', errorMessage: 'down' })]);
  t.equal(r.errors.length, 0, 'the same error is reported once');
  t.same(c.request().offsets?.['task1xxxxxxxxxxxxxxxxxxxx'], 18, 'a failing log keeps its cursor');
});

t.test('followLogs: polls until aborted, or until every log ended; no line lost or repeated', async (t) => {
  // a log that grows by one line per poll, read through the cursors the loop sends
  const log: string[] = [];
  const ac = new AbortController();
  const printed: string[] = [];
  let polls = 0;
  const failed = await followLogs(
    {
      poll: async (cursor) => {
        polls++;
        log.push(`line ${polls}\n`);
        const all = log.join('');
        const from = cursor.offsets?.['task1xxxxxxxxxxxxxxxxxxxx'] ?? 0;
        if (polls === 5) ac.abort();
        return [chunk({ data: bytes(all.slice(from)), end: all.length })];
      },
      print: (l) => printed.push(text(l)),
      report: () => t.fail('no errors'),
      sleep: async () => undefined,
    },
    { tail: undefined, signal: ac.signal, untilEnded: false },
  );
  t.equal(failed, 0);
  t.equal(printed.join(''), log.join(''), 'every line exactly once');
  t.equal(polls, 5);

  let n = 0;
  await followLogs(
    {
      poll: async () => [chunk({ data: n++ === 0 ? bytes('one\n') : new Uint8Array(), end: 4, ended: n > 2 })],
      print: () => undefined,
      report: () => undefined,
      sleep: async () => undefined,
    },
    { tail: undefined, signal: new AbortController().signal, untilEnded: true },
  );
  t.equal(n, 3, 'ends once its task has ended');
});

// ------------------------------------------------------------------------------ node ps

const NODES = [node('node1xxxxxxxxxxxxxxxxxxxx', 'h1'), node('node2xxxxxxxxxxxxxxxxxxxx', 'h2')];

t.test('node ps: the node this machine runs, else a NODE is required', async (t) => {
  const probe: LocalAgentProbe = async () => ({ socket: '/d/agent.sock', info: INFO, why: '' });
  t.same(await nodePsTargets(['h2'], () => probe(undefined, {})), ['h2']);
  t.same(await nodePsTargets([], () => probe(undefined, {})), [INFO.nodeId]);
  const none = nodePsTargets([], async () => ({ socket: '/d/agent.sock', info: undefined, why: 'no agent is running on it' }));
  await t.rejects(none, /node ps needs a NODE: .*\/d\/agent\.sock: no agent is running on it/);
  await none.catch((err) => t.ok(isUsageError(err)));
});

t.test("node ps: Docker's columns, the command for the image, filters, -q", async (t) => {
  const tasks = [
    task('t1xxxxxxxxxxxxxxxxxxxxxxx', 1),
    task('t0xxxxxxxxxxxxxxxxxxxxxxx', 1, {
      createdAt: '2026-11-22T10:00:00Z',
      desiredState: 'shutdown',
      status: { state: 'failed', message: '', err: 'task: non-zero exit (7)', timestamp: '2026-11-22T10:00:00Z', exitCode: 7, health: '' },
    }),
  ];
  tasks[0]!.spec.labels = { tier: 'front' };
  const impl: ApiImpl = {
    inspectNode: (ref) => {
      const n = NODES.find((x) => x.id === ref || x.description.hostname === ref);
      if (!n) throw apiError('SHOAL_ERR_NODE_NOT_FOUND', `no such node: ${String(ref)}`);
      return n;
    },
    // the manager applies a single desired-state itself
    listTasks: (f) =>
      tasks.filter(
        (x) => !(f as { desiredState?: string }).desiredState || x.desiredState === (f as { desiredState: string }).desiredState,
      ),
    listNodes: () => NODES,
  };
  const probe: LocalAgentProbe = async () => ({ socket: '/d/agent.sock', info: INFO, why: '' });
  const r = await run(['node', 'ps'], impl, probe);
  t.equal(r.status, 0, r.err);
  t.same(
    r.calls.find((c) => c[0] === 'listTasks'),
    ['listTasks', { nodes: [INFO.nodeId] }],
  );
  const lines = r.out.trimEnd().split('\n');
  t.match(lines[0], /^ID\s+NAME\s+COMMAND\s+NODE\s+DESIRED STATE\s+CURRENT STATE\s+ERROR\s+PORTS$/);
  t.match(lines[1], /^t1xxxxxxxxxx\s+web\.1\s+"sleep 1000"\s+h1\s+Running\s+Running about an hour ago\s*$/);
  t.match(lines[2], /^t0xxxxxxxxxx\s+\\_ web\.1\s+"sleep 1000"\s+h1\s+Shutdown\s+Failed 2 hours ago\s+"task: non-zero exit \(7\)"$/);

  const q = await run(['node', 'ps', '-q', '--filter', 'desired-state=running', 'h1'], impl, probe);
  t.equal(q.out, 't1xxxxxxxxxx\n');
  const label = await run(['node', 'ps', '-q', '-f', 'label=tier=front', 'h1'], impl, probe);
  t.equal(label.out, 't1xxxxxxxxxx\n');
  const name = await run(
    ['node', 'ps', '--format', '{{.Name}} {{.Image}} {{.Node}}', '--no-resolve', '-f', 'name=web.1', 'h1'],
    impl,
    probe,
  );
  t.equal(name.out, `web.1 "sleep 1000" ${NODES[0]!.id}\n \\_ web.1 "sleep 1000" ${NODES[0]!.id}\n`);
  const json = await run(['node', 'ps', '--format', 'json', '--no-trunc', 'h1'], impl, probe);
  t.equal(JSON.parse(json.out.split('\n')[0] as string).ID, 't1xxxxxxxxxxxxxxxxxxxxxxx');

  const missing = await run(['node', 'ps', 'h1', 'nosuch'], impl, probe);
  t.equal(missing.status, 1);
  t.equal(missing.err, 'Error: no such node: nosuch (SHOAL_ERR_NODE_NOT_FOUND)\n');
  t.match(missing.out, /t1xxxxxxxxxx/, "the found node's tasks still print");

  const bad = await run(['node', 'ps', '-f', 'desired-state=gone', 'h1'], impl, probe);
  t.equal(bad.status, 2);
  t.same(bad.calls, [], 'nothing sent');
  const badKey = await run(['node', 'ps', '-f', 'node=h1'], impl, probe);
  t.equal(badKey.status, 2);
  t.match(badKey.err, /invalid filter "node" \(valid filters: desired-state, id, label, name\)/);
  const noAgent = await run(['node', 'ps'], impl);
  t.equal(noAgent.status, 2);
  t.match(noAgent.err, /^Error: node ps needs a NODE: /);
});

// ------------------------------------------------------------------------------ info

const SWARM: Swarm = {
  id: 'clusterxxxxxxxxxxxxxxxxxx',
  version: 1,
  createdAt: '2026-11-22T09:00:00Z',
  updatedAt: '2026-11-22T09:00:00Z',
  joinTokens: { worker: 'w', manager: 'm' },
  rootCaCert: '',
  caDigest: '',
  defaultAddrPool: ['10.0.0.0/8'],
  subnetSize: 24,
  dataPathPort: 4789,
  heartbeatPeriodMs: 5000,
  gossipKeys: [],
  managerAddr: '192.0.2.11:2377',
  certExpiryMs: 7_776_000_000,
  caRotationInProgress: false,
};

t.test('info: counts, pools and ports, and the local data plane', async (t) => {
  const nodes = [
    node('node1xxxxxxxxxxxxxxxxxxxx', 'h1', { spec: { name: '', labels: {}, role: 'manager', availability: 'active' } }),
    node('node2xxxxxxxxxxxxxxxxxxxx', 'h2', { status: { state: 'down', message: '', addr: '192.0.2.12', gossipPort: 7946 } }),
  ];
  const view = infoView({
    swarm: SWARM,
    nodes,
    networks: [network('ingress'), network('front')],
    services: [],
    tasks: [
      task('t1xxxxxxxxxxxxxxxxxxxxxxx', 1),
      task('t2xxxxxxxxxxxxxxxxxxxxxxx', 2, { status: { ...task('x', 1).status, state: 'pending' } }),
    ],
    manager: 'unix:///d/manager.sock',
    agent: { socket: '/d/agent.sock', info: INFO, why: '' },
  });
  t.same(
    [view.Swarm.Managers, view.Swarm.Nodes, view.Swarm.NodesReady, view.Swarm.NodesDown, view.Networks, view.Tasks, view.TasksRunning],
    [1, 2, 1, 1, 2, 2, 1],
  );
  const out = infoText(view);
  for (const line of [
    ' Manager: unix:///d/manager.sock',
    '  NodeID: node1xxxxxxxxxxxxxxxxxxxx',
    '  ClusterID: clusterxxxxxxxxxxxxxxxxxx',
    '  Nodes: 2 (ready 1, down 1)',
    '  Tasks: 2 (running 1)',
    '  Default Address Pool: 10.0.0.0/8',
    '  Data Path Port: 4789',
    '  Gossip Port: 7946',
    '  Networks programmed: 2',
    '  Sandboxes: 3',
    '  Load-balanced services: 1',
    '  Resolver: answering in 3 sandbox(es), 12 queries',
  ]) {
    t.ok(out.split('\n').includes(line), line);
  }
  const noAgent = infoText(
    infoView({
      swarm: SWARM,
      nodes,
      networks: [],
      services: [],
      tasks: [],
      manager: '',
      agent: { socket: '/d/agent.sock', info: undefined, why: 'no agent is running on it' },
    }),
  );
  t.match(noAgent, / {2}Agent: not reachable on \/d\/agent\.sock: no agent is running on it\n/);
  t.match(noAgent, /NodeID: \(unknown: no agent on this machine\)/);

  const impl: ApiImpl = {
    inspectSwarm: () => SWARM,
    listNodes: () => nodes,
    listNetworks: () => [],
    listServices: () => [],
    listTasks: () => [],
  };
  const probe: LocalAgentProbe = async () => ({ socket: '/d/agent.sock', info: INFO, why: '' });
  const id = await run(
    ['info', '--format', '{{.Swarm.Cluster.ID}} {{.Swarm.Cluster.DataPathPort}} {{.Agent.DataPlane.sandboxes}}'],
    impl,
    probe,
  );
  t.equal(id.out, 'clusterxxxxxxxxxxxxxxxxxx 4789 3\n');
  const json = await run(['info', '-f', 'json'], impl, probe);
  t.equal(JSON.parse(json.out).Swarm.Nodes, 2);
  const down = await run(['info'], {
    ...impl,
    inspectSwarm: () => {
      throw apiError('SHOAL_ERR_MANAGER_UNREACHABLE', 'cannot reach the manager');
    },
  });
  t.equal(down.status, 1, 'no manager: exit 1');
  t.match(down.err, /^Error: cannot reach the manager/);
});

// ------------------------------------------------------------------------------ network prune

t.test('network prune --filter: until, label, label!; never ingress; in-use networks kept', async (t) => {
  const f = parsePruneFilters(['until=1h', 'label=env', 'label!=keep=yes'], NOW);
  t.equal(f.untilMs, NOW - 3_600_000);
  const n = (name: string, createdAt: string, labels: Record<string, string>, ingress = false): Network =>
    network(name, { createdAt, spec: { name, labels, ...(ingress ? { ingress: true } : {}) } as Network['spec'] });
  t.ok(pruneMatches(n('a', '2026-11-22T10:00:00Z', { env: 'x' }), f));
  t.notOk(pruneMatches(n('b', '2026-11-22T11:30:00Z', { env: 'x' }), f), 'too new');
  t.notOk(pruneMatches(n('c', '2026-11-22T10:00:00Z', {}), f), 'no label env');
  t.notOk(pruneMatches(n('d', '2026-11-22T10:00:00Z', { env: 'x', keep: 'yes' }), f), 'label! excludes');
  t.notOk(pruneMatches(n('ingress', '2026-11-22T10:00:00Z', { env: 'x' }, true), parsePruneFilters(['label=env'], NOW)));
  t.throws(() => parsePruneFilters(['dangling=true'], NOW), { code: 'SHOAL_ERR_INVALID_ARGUMENT' });
  t.throws(() => parsePruneFilters(['until=soon'], NOW), /invalid argument "soon" for "--filter until" flag/);

  const nets = [
    n('a', '2026-11-22T10:00:00Z', { env: 'x' }),
    n('used', '2026-11-22T10:00:00Z', { env: 'x' }),
    n('c', '2026-11-22T10:00:00Z', {}),
  ];
  const r = await run(['network', 'prune', '-f', '--filter', 'label=env'], {
    listNetworks: () => nets,
    removeNetwork: (id) => {
      if (id === nets[1]!.id) throw apiError('SHOAL_ERR_NETWORK_IN_USE', 'network used is in use');
    },
  });
  t.equal(r.status, 0, r.err);
  t.equal(r.out, 'Deleted Networks:\na\n\n');
  t.same(
    r.calls.filter((c) => c[0] === 'removeNetwork').map((c) => c[1]),
    [nets[0]!.id, nets[1]!.id],
  );
  const plain = await run(['network', 'prune', '-f'], { pruneNetworks: () => ['x'] });
  t.equal(plain.out, 'Deleted Networks:\nx\n\n', 'without filters: one prune on the manager');
});
