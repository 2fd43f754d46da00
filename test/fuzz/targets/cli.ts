/**
 * Target cli: the `shoal` commander program (src/cli/main.ts's groups, registered with a
 * fake context) run in-process on argv built from its own vocabulary (every command, flag
 * and a table of typical values) plus garbage, against a fake API. The groups that start
 * daemons or need root (manager, agent, testbed, demo) are left out.
 *
 * An input is the argv, NUL-separated. The fake API answers each call with a complete
 * object of the method's response type (every field present, times valid, as a manager
 * sends) or fails it with an API error; which, is drawn from a seed taken from the input,
 * so a saved input replays the same run. Follow loops end: the fake's sleep returns at
 * once and its interrupt fires after a few polls.
 *
 * Invariant: every run ends as main() ends it: exit status 0, or 1/2 with an error line on
 * stderr that carries a SHOAL_ERR code or is commander's usage message (`doctor` exits 1
 * with its report when it found differences; `exec` exits with the command's status); never an exception
 * that reaches main() (it would print a stack), never a non-ShoalError printed by a command
 * (`Error: Cannot read properties of undefined`), never a stack trace in the output, and
 * within a deadline.
 */
import { type Command, CommanderError } from 'commander';
import type protobuf from 'protobufjs/light.js';
import { apiError } from '../../../src/api/errors.ts';
import { API_PACKAGE, apiRoot } from '../../../src/api/proto.ts';
import type { ApiHandle, CliContext } from '../../../src/cli/client-options.ts';
import type { ByteOutput } from '../../../src/cli/exec.ts';
import type { LocalAgentProbe } from '../../../src/cli/local-agent.ts';
import type { FollowHooks } from '../../../src/cli/logs.ts';
import { commanderExitStatus, GROUPS, rootCommand } from '../../../src/cli/main.ts';
import { isUsageError } from '../../../src/cli/parse/usage-error.ts';
import { isShoalError, printableMessage } from '../../../src/common/errors.ts';
import { createRng, type Rng } from '../../../src/common/rng.ts';
import type { FuzzInstance, FuzzTarget } from '../harness.ts';
import { fail, seedOfInput } from '../harness.ts';
import { mutateBytesOnce } from '../mutate.ts';

/** Groups that run daemons or need root: not fuzzed in-process. */
const EXCLUDED = new Set(['manager', 'agent', 'testbed', 'demo']);
const RUN_DEADLINE_MS = 30_000;
/**
 * Calls before the fake API fails every call: `service logs --follow` polls with the real
 * sleep (500 ms; registerServiceCommands takes no follow hooks) until a poll fails.
 */
const MAX_API_CALLS = 12;

const VALUES = [
  'web',
  'front',
  'back',
  'ingress',
  'box',
  'self',
  'node1',
  'web.1',
  'abc123',
  '0',
  '1',
  '-1',
  '3',
  '65535',
  '65536',
  '99999999999999999999',
  '1.5',
  'NaN',
  '',
  ' ',
  '--',
  '-',
  '=',
  'web=5',
  'web=x',
  '=3',
  'a=b',
  'label=a',
  'label=a=b',
  'dangling=true',
  'until=24h',
  'until=2026-01-01',
  'driver=overlay',
  'name=web',
  'id=',
  '10m',
  '1h30m',
  '0s',
  '-5m',
  '2026-11-22T12:00:00Z',
  '1767225600',
  '8080:80',
  '80',
  '80/udp',
  '8080:80/sctp',
  ':80',
  '70000:80',
  'published=8080,target=80,mode=host',
  'target=80,protocol=udp',
  'published=,target=',
  '10.0.9.0/24',
  '10.0.9.0/33',
  'fd00::/64',
  '10.0.9.1',
  '300.1.1.1',
  'overlay',
  'bridge',
  'vip',
  'dnsrr',
  'replicated',
  'global',
  'worker',
  'manager',
  'active',
  'pause',
  'drain',
  'json',
  'table',
  'table {{.ID}}\\t{{.Name}}',
  '{{.ID}}',
  '{{.Spec.Name}}',
  '{{json .}}',
  '{{',
  '{{.Nope.Deeper}}',
  '{{range .}}{{end}}',
  'KEY=value',
  'KEY',
  'unix:///nonexistent/manager.sock',
  'tcp://192.0.2.1:2377',
  'none',
  'on-failure',
  'any',
  'start-first',
  'stop-first',
  'rollback',
  'continue',
  'sleep',
  '600',
  'x'.repeat(300),
  'ü∂é',
  '\u0000',
  '-x',
  '--nope',
  '--format=json',
  '-q',
];

const STRINGS = ['', 'web', 'front', 'node1', 'x'.repeat(40), '10.0.1.5/24', 'ü'];

/**
 * A complete object of a proto message type, as a manager sends it: every field present
 * (nested messages too), times valid; with an Rng, repeated fields hold a few elements and
 * scalars take values from small tables.
 */
function fullDefault(type: protobuf.Type, rng?: Rng, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of type.fieldsArray) {
    f.resolve();
    const name = f.name;
    const message = f.resolvedType && 'fieldsArray' in f.resolvedType ? (f.resolvedType as protobuf.Type) : undefined;
    const scalar = (): unknown => {
      if (f.resolvedType && !message) {
        const names = Object.keys((f.resolvedType as protobuf.Enum).values);
        return names[rng ? rng.int(names.length) : 0];
      }
      if (f.type === 'string') {
        if (/At$|timestamp|Time$/.test(name)) return '2026-11-22T09:00:00Z';
        // an error code field holds a code or nothing, as the manager fills it
        if (/[cC]ode$/.test(name)) return rng && rng.int(2) ? ERROR_CODES[rng.int(ERROR_CODES.length)] : '';
        return rng ? STRINGS[rng.int(STRINGS.length)] : '';
      }
      if (f.type === 'bool') return rng ? rng.int(2) === 0 : false;
      if (f.type === 'bytes') return rng && rng.int(2) ? Buffer.from('line one\nline two\n') : new Uint8Array(0);
      if (f.type === 'double' || f.type === 'float') return rng ? [0, 0.5, 1][rng.int(3)] : 0;
      return rng ? [0, 1, 3, 65535][rng.int(4)] : 0;
    };
    if (f.map) out[name] = rng && rng.int(2) ? { a: 'b' } : {};
    else if (f.repeated) {
      const n = rng && depth < 4 ? rng.int(3) : 0;
      out[name] = Array.from({ length: n }, () => (message ? fullDefault(message, rng, depth + 1) : scalar()));
    } else if (message) {
      if (f.options?.['proto3_optional'] || f.partOf) continue;
      out[name] = depth < 6 ? fullDefault(message, rng, depth + 1) : {};
    } else out[name] = scalar();
  }
  return out;
}

/** What each client method resolves to: a response type, unwrapped when the client returns a list. */
const RESPONSES: Record<string, [string, string?]> = {
  createNetwork: ['Network'],
  listNetworks: ['ListNetworksResponse', 'networks'],
  inspectNetwork: ['Network'],
  connectNetwork: ['Container'],
  networkEndpoints: ['NetworkEndpointsResponse'],
  createService: ['Service'],
  listServices: ['ListServicesResponse', 'services'],
  inspectService: ['Service'],
  updateService: ['Service'],
  scaleService: ['Service'],
  listTasks: ['ListTasksResponse', 'tasks'],
  runContainer: ['Container'],
  listContainers: ['ListContainersResponse', 'containers'],
  inspectContainer: ['Container'],
  exec: ['ExecResponse'],
  logs: ['LogsResponse', 'chunks'],
  doctor: ['DoctorResponse', 'nodes'],
  listNodes: ['ListNodesResponse', 'nodes'],
  inspectNode: ['Node'],
  updateNode: ['Node'],
  inspectSwarm: ['Swarm'],
  rotateGossipKey: ['Swarm'],
  updateSwarm: ['Swarm'],
  joinToken: ['JoinTokenResponse'],
  version: ['VersionInfo'],
  caStatus: ['CaStatusResponse'],
  rotateCa: ['CaStatusResponse'],
};

const ERROR_CODES = [
  'SHOAL_ERR_NETWORK_NOT_FOUND',
  'SHOAL_ERR_SERVICE_NOT_FOUND',
  'SHOAL_ERR_NODE_NOT_FOUND',
  'SHOAL_ERR_CONTAINER_NOT_FOUND',
  'SHOAL_ERR_TASK_NOT_FOUND',
  'SHOAL_ERR_AMBIGUOUS_REF',
  'SHOAL_ERR_BAD_SPEC',
  'SHOAL_ERR_VERSION_CONFLICT',
  'SHOAL_ERR_NETWORK_IN_USE',
  'SHOAL_ERR_MANAGER_UNREACHABLE',
  'SHOAL_ERR_TIMEOUT',
];

interface Run {
  out: string[];
  err: string[];
}

class FakeApi {
  calls = 0;
  constructor(private readonly rng: Rng) {}

  handle(): ApiHandle {
    return new Proxy({} as ApiHandle, {
      get: (_t, prop: string) => {
        if (prop === 'close') return () => undefined;
        if (prop === 'then') return undefined;
        return async () => this.answer(prop);
      },
    });
  }

  private answer(method: string): unknown {
    if (++this.calls > MAX_API_CALLS || this.rng.int(5) === 0) {
      const code = this.calls > MAX_API_CALLS ? 'SHOAL_ERR_MANAGER_UNREACHABLE' : ERROR_CODES[this.rng.int(ERROR_CODES.length)]!;
      throw apiError(code as never, `fake API: ${method} failed`);
    }
    if (method === 'dump') return 'dump text\n';
    if (method === 'pruneNetworks') return this.rng.int(2) ? [] : ['netid1'];
    const r = RESPONSES[method];
    if (!r) return undefined; // removes and disconnects resolve to nothing
    const rich = this.rng.int(2) === 0 ? this.rng : undefined;
    const obj = fullDefault(apiRoot().lookupType(`${API_PACKAGE}.${r[0]}`), rich);
    if (!r[1]) return decorate(obj, this.rng);
    const type = apiRoot().lookupType(`${API_PACKAGE}.${r[0]}`).fields[r[1]]!;
    type.resolve();
    const n = this.rng.int(4);
    return Array.from({ length: n }, (_, i) => decorate(fullDefault(type.resolvedType as protobuf.Type, rich), this.rng, i));
  }
}

/** Gives a default object the names and IDs a manager would (empty ones are legal, but rare). */
function decorate(o: Record<string, unknown>, rng: Rng, i = 0): Record<string, unknown> {
  if ('id' in o) o['id'] = `obj${i}${'x'.repeat(20)}`.slice(0, 25);
  const spec = o['spec'] as Record<string, unknown> | undefined;
  if (spec && 'name' in spec && rng.int(4) !== 0) spec['name'] = ['web', 'front', 'box', 'db'][i % 4];
  return o;
}

const NO_PROBE: LocalAgentProbe = async () => ({ socket: '/nonexistent/agent.sock', info: undefined, why: 'no agent (fuzz)' });

class CliInstance implements FuzzInstance {
  readonly checkEvery = 2000;
  readonly vocabulary: { commands: string[][]; flags: Map<string, string[]> };
  readonly counts = { ok: 0, failed: 0, usage: 0, help: 0 };

  constructor() {
    this.vocabulary = { commands: [], flags: new Map() };
  }

  async start(): Promise<this> {
    const { program } = await this.program(createRng(1), { out: [], err: [] }, '*');
    const walk = (c: Command, path: string[]): void => {
      const flags = c.options.flatMap((o) => [o.long, o.short].filter((x): x is string => !!x));
      this.vocabulary.flags.set(path.join(' '), [...flags, '--help', '-h']);
      if (path.length) this.vocabulary.commands.push(path);
      for (const sub of c.commands) walk(sub, [...path, sub.name()]);
    };
    walk(program, []);
    return this;
  }

  /**
   * The program as main()'s buildProgram builds it, with the fake context: the group that
   * argv[0] names (`help GROUP` too) fully registered, the others as one-line entries;
   * `*` registers every group (for the vocabulary).
   */
  private async program(rng: Rng, run: Run, group: string | undefined): Promise<{ program: Command; api: FakeApi }> {
    const api = new FakeApi(rng);
    let polls = 0;
    const ctx: CliContext = {
      connect: () => api.handle(),
      out: (t) => void run.out.push(t),
      err: (t) => void run.err.push(t),
      readLine: async () => (rng.int(3) === 0 ? undefined : ['y', 'n', 'yes', ''][rng.int(4)]),
      now: () => Date.parse('2026-11-22T12:00:00Z'),
      env: {},
    };
    const io: ByteOutput = {
      stdout: (b) => void run.out.push(Buffer.from(b).toString()),
      stderr: (b) => void run.err.push(Buffer.from(b).toString()),
    };
    let interrupt: AbortController | undefined;
    const hooks: FollowHooks = {
      interrupt: () => {
        interrupt = new AbortController();
        return { signal: interrupt.signal, release: () => undefined };
      },
      // polls return at once; after a few, the user presses Ctrl-C
      sleep: async () => {
        if (++polls > 5) interrupt?.abort();
      },
    };
    const program = rootCommand();
    program.configureOutput({ writeOut: (s) => void run.out.push(s), writeErr: (s) => void run.err.push(s) });
    for (const g of GROUPS) {
      if (EXCLUDED.has(g.name)) continue;
      if (group !== '*' && g.name !== group) {
        program.command(g.name).description(g.summary);
        continue;
      }
      const register = (await g.load()) as unknown as (p: Command, ...rest: unknown[]) => void;
      if (g.name === 'logs') register(program, ctx, io, hooks);
      else if (g.name === 'exec') register(program, ctx, io);
      else if (g.name === 'info' || g.name === 'node') register(program, ctx, NO_PROBE);
      else register(program, ctx);
    }
    return { program, api };
  }

  generate(rng: Rng, corpus: readonly Uint8Array[]): Uint8Array {
    let argv: string[];
    if (rng.int(8) === 0) {
      // from scratch: a command path, then flags and values
      const cmd = this.vocabulary.commands[rng.int(this.vocabulary.commands.length)]!;
      argv = [...cmd];
      const n = rng.int(6);
      for (let i = 0; i < n; i++) argv.push(this.token(rng, cmd));
    } else {
      argv = split(corpus[rng.int(corpus.length)]!);
      const cmd = this.commandOf(argv);
      const n = 1 + rng.int(3);
      for (let i = 0; i < n; i++) {
        const at = rng.int(argv.length + 1);
        switch (rng.int(7)) {
          case 0:
            argv.splice(at, 0, this.token(rng, cmd));
            break;
          case 1:
            argv.splice(at, 1);
            break;
          case 2:
            if (argv.length) argv[Math.min(at, argv.length - 1)] = this.token(rng, cmd);
            break;
          case 3:
            if (argv.length) argv.splice(at, 0, argv[rng.int(argv.length)]!);
            break;
          case 4: {
            // a flag glued to its value, or a value glued to a flag
            const f = this.flagsOf(cmd);
            argv.splice(at, 0, `${f[rng.int(f.length)]}=${VALUES[rng.int(VALUES.length)]}`);
            break;
          }
          case 5: {
            // byte-level damage to one token
            if (!argv.length) break;
            const j = Math.min(at, argv.length - 1);
            const bytes = mutateBytesOnce(rng, Buffer.from(argv[j]!), corpus);
            argv[j] = Buffer.from(bytes).toString('utf8').split(String.fromCharCode(0)).join('');
            break;
          }
          default: {
            // splice with another corpus entry's tail
            const other = split(corpus[rng.int(corpus.length)]!);
            argv = [...argv.slice(0, at), ...other.slice(rng.int(other.length + 1))];
          }
        }
      }
    }
    return join(argv);
  }

  private commandOf(argv: string[]): string[] {
    let best: string[] = [];
    for (const c of this.vocabulary.commands) if (c.length > best.length && c.every((w, i) => argv[i] === w)) best = c;
    return best;
  }

  private flagsOf(cmd: string[]): string[] {
    return this.vocabulary.flags.get(cmd.join(' ')) ?? ['--help'];
  }

  private token(rng: Rng, cmd: string[]): string {
    switch (rng.int(4)) {
      case 0:
      case 1: {
        const f = this.flagsOf(cmd);
        return f[rng.int(f.length)]!;
      }
      case 2:
        return VALUES[rng.int(VALUES.length)]!;
      default: {
        const c = this.vocabulary.commands[rng.int(this.vocabulary.commands.length)]!;
        return c[c.length - 1]!;
      }
    }
  }

  async run(input: Uint8Array): Promise<void> {
    const argv = split(input);
    const run: Run = { out: [], err: [] };
    const rng = createRng(seedOfInput(input));
    const named = argv[0] === 'help' ? argv[1] : argv[0];
    if (named !== undefined && EXCLUDED.has(named)) return;
    const group = GROUPS.find((g) => g.name === named)?.name;
    const { program } = await this.program(rng, run, group);
    // main() turns `help GROUP` into `GROUP --help`
    const args = argv[0] === 'help' && group !== undefined ? [group, '--help'] : argv;
    const saved = process.exitCode;
    process.exitCode = undefined;
    let status: number;
    let timer: NodeJS.Timeout | undefined;
    try {
      const parsed = program.parseAsync(args, { from: 'user' });
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`still running after ${RUN_DEADLINE_MS} ms`)), RUN_DEADLINE_MS);
      });
      await Promise.race([parsed, deadline]);
      status = typeof process.exitCode === 'number' ? process.exitCode : 0;
    } catch (err) {
      if (err instanceof CommanderError) status = commanderExitStatus(err);
      else if (isShoalError(err)) {
        // as main() prints it
        const { message, code } = err;
        const usage = isUsageError(err);
        run.err.push(`Error: ${usage ? printableMessage(message) : message} (${code})\n`);
        status = usage ? 2 : 1;
      } else fail(`argv ${JSON.stringify(argv)}: an exception reached main(): ${(err as Error)?.stack ?? String(err)}`);
    } finally {
      clearTimeout(timer);
      process.exitCode = saved;
    }
    const err = run.err.join('');
    const all = `${run.out.join('')}${err}`;
    const where = `argv ${JSON.stringify(argv)}`;
    if (/\n\s+at .+:\d+:\d+\)?\n/.test(all)) fail(`${where}: a stack trace in the output: ${all.slice(0, 400)}`);
    const exec = argv[0] === 'exec';
    if (!Number.isInteger(status) || status < 0 || status > (exec ? 255 : 2)) fail(`${where}: exit status ${status}`);
    if (status === 0) {
      this.counts.ok++;
      return;
    }
    if (/^Usage: shoal/.test(err)) {
      // a group named without a subcommand: commander shows its help on stderr
      this.counts.help++;
      return;
    }
    if (argv[0] === 'doctor' && status === 1 && err.trim() === '' && run.out.join('') !== '') {
      // doctor exits 1 when it found differences or could not check a node; its report says which
      this.counts.failed++;
      return;
    }
    if (err.trim() === '' && !exec) fail(`${where}: exit status ${status} with nothing on stderr`);
    for (const line of err.split('\n')) {
      if (line === '') continue;
      if (!/^Error: /.test(line)) {
        // a command's own stderr (exec passes the task's through); otherwise errors are one line
        if (!exec) fail(`${where}: a stderr line that is not an error line: ${line.slice(0, 300)}`);
        continue;
      }
      if (!/\(SHOAL_ERR_[A-Z0-9_]+\)$/.test(line) && !/\(see 'shoal[^']*--help'\)$/.test(line))
        fail(`${where}: an error line without a code: ${line.slice(0, 300)}`);
    }
    if (status === 2) this.counts.usage++;
    else this.counts.failed++;
  }

  summary(): string {
    const c = this.counts;
    return `exit 0: ${c.ok}, exit 1 with a coded error: ${c.failed}, usage errors (exit 2): ${c.usage}, help for a group without a subcommand: ${c.help}; vocabulary: ${this.vocabulary.commands.length} commands`;
  }

  async close(): Promise<void> {}
}

function split(b: Uint8Array): string[] {
  if (b.length === 0) return [];
  return Buffer.from(b).toString('utf8').split('\u0000');
}

function join(argv: readonly string[]): Uint8Array {
  return new Uint8Array(Buffer.from(argv.join('\u0000'), 'utf8'));
}

const SEEDS = [
  'network create --driver overlay --attachable --subnet 10.0.9.0/24 --gateway 10.0.9.1 front',
  'network create --ipv6 back',
  'network ls',
  'network ls -q --filter driver=overlay --format {{.ID}}',
  'network inspect front back',
  'network rm front',
  'network prune -f --filter until=24h',
  'network connect --alias b front box',
  'network disconnect -f front box',
  'service create --name web --replicas 3 --network front -p 8080:80 --env A=b --label x=y nginx',
  'service create --name db --mode global --endpoint-mode dnsrr --network back redis',
  'service ls --format json',
  'service inspect --pretty web',
  'service ps web --no-trunc',
  'service scale web=5 db=0',
  'service update --replicas 2 --publish-add 9090:90 --network-add back web',
  'service rollback web',
  'service rm web db',
  'container run --network front --name box -- sleep 600',
  'container ls -a',
  'container inspect box',
  'container rm -f box',
  'exec web.1 -- ls /',
  'logs --tail 10 --since 10m web.1',
  'logs -f --timestamps box',
  'node ls',
  'node inspect self --format {{.Status.State}}',
  'node ps self',
  'node update --availability drain --label-add a=b node1',
  'node promote node1',
  'node demote node1',
  'node rm -f node1',
  'swarm join-token worker',
  'swarm join-token --rotate -q manager',
  'doctor',
  'info',
  'version',
  '--help',
  'service --help',
  'help network',
  '--version',
];

export const cli: FuzzTarget = {
  name: 'cli',
  description: 'the shoal command line in-process: commander program, real vocabulary plus garbage, fake API',
  seeds: () => SEEDS.map((s) => join(s.split(' '))),
  open: () => new CliInstance().start(),
};
