// `shoal exec`, `shoal logs` and `shoal service logs` against a recording fake of the API:
// the request each command line sends, the bytes and lines it prints (Docker's shapes),
// its exit status; usage errors send nothing.
import t from 'tap';
import { Command, CommanderError } from 'commander';
import { defaultServiceSpec } from '../../../src/api/api-defaults.ts';
import type { ExecResult, LogChunk, Node, Service } from '../../../src/api/api-types.ts';
import { apiError } from '../../../src/api/errors.ts';
import type { CliContext } from '../../../src/cli/client-options.ts';
import { exitStatus, registerExecCommand } from '../../../src/cli/exec.ts';
import { logLines, parseTail, registerLogsCommand, serviceLogText, taskPrefix } from '../../../src/cli/logs.ts';
import { registerServiceCommands } from '../../../src/cli/service.ts';
import type { ApiImpl } from '../../support/recording-api.ts';
import { recordingApi } from '../../support/recording-api.ts';

interface Run {
  status: number;
  out: string;
  err: string;
  stdout: Buffer;
  stderr: Buffer;
  calls: [string, ...unknown[]][];
}

async function run(argv: string[], impl: ApiImpl = {}): Promise<Run> {
  const r: Run = { status: 0, out: '', err: '', stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), calls: [] };
  const api = recordingApi(r.calls, impl);
  const ctx: CliContext = {
    connect: () => api,
    out: (s) => void (r.out += s),
    err: (s) => void (r.err += s),
    readLine: async () => undefined,
    now: () => Date.parse('2026-11-22T12:00:00Z'),
    env: { HOME: '/home/u' },
  };
  const io = {
    stdout: (b: Uint8Array) => void (r.stdout = Buffer.concat([r.stdout, b])),
    stderr: (b: Uint8Array) => void (r.stderr = Buffer.concat([r.stderr, b])),
  };
  const program = new Command('shoal').exitOverride();
  const capture = { writeOut: (s: string) => void (r.out += s), writeErr: (s: string) => void (r.err += s) };
  program.configureOutput(capture);
  registerExecCommand(program, ctx, io);
  registerLogsCommand(program, ctx, io);
  registerServiceCommands(program, ctx);
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

const result = (fields: Partial<ExecResult>): ExecResult => ({
  exitCode: 0,
  stdout: new Uint8Array(),
  stderr: new Uint8Array(),
  taskId: 't',
  containerId: '',
  nodeId: 'n',
  ...fields,
});

t.test('exec: the request, the output bytes unchanged, the exit status', async (t) => {
  const r = await run(['exec', '-e', 'A=1', '-e', 'HOME', '-e', 'UNSET', '-w', '/srv', '--timeout', '90s', 'web.1', 'ls', '-l', '--all'], {
    exec: () => result({ exitCode: 2, stdout: new Uint8Array([0, 255, 10]), stderr: new Uint8Array(Buffer.from('warn\n')) }),
  });
  t.same(r.calls, [
    ['exec', { target: 'web.1', argv: ['ls', '-l', '--all'], env: ['A=1', 'HOME=/home/u'], workdir: '/srv', timeoutMs: 90_000 }],
  ]);
  t.same([...r.stdout], [0, 255, 10]);
  t.equal(r.stderr.toString(), 'warn\n');
  t.equal(r.status, 2, "the command's status");
  t.equal(r.out + r.err, '', 'nothing else printed');
  const zero = await run(['exec', 'web.1', '--', 'true'], { exec: () => result({}) });
  t.equal(zero.status, 0);
  t.same(zero.calls[0]?.[1], { target: 'web.1', argv: ['true'], env: [] });
});

t.test('exec: usage errors send nothing; a refusal is one line and status 1', async (t) => {
  for (const argv of [
    ['exec', 'web.1'],
    ['exec', '--timeout', '0s', 'web.1', 'ls'],
    ['exec', '--timeout', 'soon', 'web.1', 'ls'],
    ['exec', '-it', 'web.1', 'sh'],
    ['exec', 'web.1', '--'],
  ]) {
    const r = await run(argv);
    t.equal(r.status, 2, `${argv.join(' ')}: exit 2`);
    t.same(r.calls, [], `${argv.join(' ')}: nothing sent`);
    t.match(r.err, /^Error: /);
  }
  const refused = await run(['exec', 'nosuch', 'ls'], {
    exec: () => {
      throw apiError('SHOAL_ERR_TASK_NOT_FOUND', 'no such task or container: nosuch');
    },
  });
  t.equal(refused.status, 1);
  t.equal(refused.err, 'Error: no such task or container: nosuch (SHOAL_ERR_TASK_NOT_FOUND)\n');
  t.equal(refused.stdout.length, 0);
});

t.test('exit statuses as a shell reports them', async (t) => {
  t.same([0, 7, 255, 256, 300, -1, -15].map(exitStatus), [0, 7, 255, 0, 44, 255, 241]);
});

const chunk = (fields: Partial<LogChunk>): LogChunk => ({
  taskId: 'abcdefghijklmnopqrstuvwxy',
  taskName: 'web.1.abcdefghijklmnopqrstuvwxy',
  nodeId: 'node1xxxxxxxxxxxxxxxxxxxx',
  data: new Uint8Array(Buffer.from('one\ntwo\n')),
  containerId: '',
  serviceName: 'web',
  slot: 1,
  end: 8,
  ended: false,
  lineTimes: [],
  errorCode: '',
  errorMessage: '',
  ...fields,
});

t.test('logs: the log as stored; --tail as Docker reads it', async (t) => {
  const r = await run(['logs', '--tail', '2', 'web.1'], { logs: () => [chunk({ data: new Uint8Array([1, 2, 0xff]) })] });
  t.same(r.calls, [['logs', { target: 'web.1', tail: 2 }]]);
  t.same([...r.stdout], [1, 2, 0xff], 'bytes unchanged');
  t.equal(r.status, 0);
  t.same((await run(['logs', '-n', 'all', 'x'], { logs: () => [] })).calls, [['logs', { target: 'x' }]]);
  t.same(
    [parseTail(undefined), parseTail('all'), parseTail('0'), parseTail('12'), parseTail('-3'), parseTail('x')],
    [undefined, undefined, 0, 12, undefined, undefined],
  );
  const down = await run(['logs', 'web.1'], {
    logs: () => {
      throw apiError('SHOAL_ERR_AGENT_UNAVAILABLE', 'node h2 of task web.1.x is down: its agent does not answer');
    },
  });
  t.equal(down.status, 1);
  t.equal(down.err, 'Error: node h2 of task web.1.x is down: its agent does not answer (SHOAL_ERR_AGENT_UNAVAILABLE)\n');
});

const NODES = [
  { id: 'node1xxxxxxxxxxxxxxxxxxxx', spec: { name: '' }, description: { hostname: 'h1' } },
  { id: 'node2xxxxxxxxxxxxxxxxxxxx', spec: { name: 'edge' }, description: { hostname: 'h2' } },
] as unknown as Node[];

function service(replicas: number): Service {
  return { id: 'svc1', spec: { ...defaultServiceSpec('web'), mode: { replicated: { replicas } } } } as unknown as Service;
}

t.test("service logs: Docker's prefixes, padding to the replica count's digits, and the flags", async (t) => {
  const chunks = [
    chunk({}),
    chunk({
      taskId: 'zyxwvutsrqponmlkjihgfedcb',
      slot: 10,
      nodeId: 'node2xxxxxxxxxxxxxxxxxxxx',
      data: new Uint8Array(Buffer.from('last line without newline')),
    }),
  ];
  const impl = { inspectService: () => service(10), logs: () => chunks, listNodes: () => NODES };
  const r = await run(['service', 'logs', 'web'], impl);
  t.equal(
    r.out,
    [
      'web.1.abcdefghijkl@h1     | one',
      'web.1.abcdefghijkl@h1     | two',
      'web.10.zyxwvutsrqpo@edge    | last line without newline',
      '',
    ].join('\n'),
  );
  t.same(r.calls.slice(0, 2), [
    ['inspectService', 'web'],
    ['logs', { service: 'svc1' }],
  ]);
  t.equal(r.status, 0);
  t.equal((await run(['service', 'logs', '--no-task-ids', '--tail', '5', 'web'], impl)).out.split('\n')[0], 'web.1@h1     | one');
  t.equal((await run(['service', 'logs', '--no-trunc', 'web'], impl)).out.split('\n')[0], 'web.1.abcdefghijklmnopqrstuvwxy@h1     | one');
  t.equal(
    (await run(['service', 'logs', '--no-resolve', 'web'], impl)).out.split('\n')[0],
    'web.1.abcdefghijkl@node1xxxxxxxxxxxxxxxxxxxx     | one',
  );
  const raw = await run(['service', 'logs', '--raw', 'web'], impl);
  t.equal(raw.out, 'one\ntwo\nlast line without newline\n');
  t.notOk(
    raw.calls.some((c) => c[0] === 'listNodes'),
    '--raw needs no node names',
  );
  t.same((await run(['service', 'logs', '--tail', '3', 'web'], impl)).calls[1], ['logs', { service: 'svc1', tail: 3 }]);
});

t.test('service logs: a task instead of a service; tasks that cannot be read; nothing of that name', async (t) => {
  const notService = () => {
    throw apiError('SHOAL_ERR_SERVICE_NOT_FOUND', 'service web.1 not found');
  };
  const task = await run(['service', 'logs', 'web.1'], { inspectService: notService, logs: () => [chunk({})], listNodes: () => NODES });
  t.same(task.calls[1], ['logs', { target: 'web.1' }]);
  t.equal(task.out, 'web.1.abcdefghijkl@h1    | one\nweb.1.abcdefghijkl@h1    | two\n', 'no padding for a task');
  const partial = await run(['service', 'logs', 'web'], {
    inspectService: () => service(2),
    listNodes: () => NODES,
    logs: () => [
      chunk({ slot: 1, data: new Uint8Array(), errorCode: 'SHOAL_ERR_AGENT_UNAVAILABLE', errorMessage: 'node h1 of task web.1.a is down' }),
      chunk({ slot: 2, taskName: 'web.2.b', taskId: 'bbbbbbbbbbbbbbbbbbbbbbbbb', nodeId: 'node2xxxxxxxxxxxxxxxxxxxx' }),
    ],
  });
  t.equal(partial.status, 1, 'exit 1 when a task could not be read');
  t.equal(partial.err, 'Error: web.1.abcdefghijklmnopqrstuvwxy: node h1 of task web.1.a is down (SHOAL_ERR_AGENT_UNAVAILABLE)\n');
  t.equal(partial.out, 'web.2.bbbbbbbbbbbb@edge    | one\nweb.2.bbbbbbbbbbbb@edge    | two\n', 'the others still print');
  const none = await run(['service', 'logs', 'nope'], {
    inspectService: notService,
    logs: () => {
      throw apiError('SHOAL_ERR_TASK_NOT_FOUND', 'no such task or container: nope');
    },
  });
  t.equal(none.status, 1);
  t.equal(none.err, 'Error: no such service or task: nope (SHOAL_ERR_SERVICE_NOT_FOUND)\n');
});

t.test('log lines and prefixes (pure)', async (t) => {
  t.same(logLines(new Uint8Array(Buffer.from('a\n\nb'))), ['a', '', 'b'], 'empty lines kept, the last line completed');
  t.same(logLines(new Uint8Array()), []);
  const f = { noTaskIds: false, noTrunc: false, raw: false, nodeNames: new Map([['n', 'h9']]), slotWidth: 3 };
  t.equal(taskPrefix(chunk({ slot: 7, nodeId: 'n' }), f), 'web.7.abcdefghijkl@h9  ');
  t.equal(serviceLogText(chunk({ errorCode: 'X' }), f), '', 'an error chunk prints no lines');
  t.equal(
    taskPrefix(chunk({ serviceName: '', taskName: 'box', containerId: 'c0123456789abcdefghijklmn', taskId: '', slot: 0, nodeId: 'n' }), {
      ...f,
      slotWidth: 1,
    }),
    'box.0.c0123456789a@h9',
    'a container by its name',
  );
});
