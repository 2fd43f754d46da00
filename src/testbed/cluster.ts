/**
 * The testbed's cluster: a manager in h1 and an agent in every host, as real daemons
 * (`node bin/shoal.js manager|agent ...`) entered with `nsenter --net=`, detached so that
 * they outlive the `shoal testbed up` that started them.
 *
 *   h1   shoal manager --data-dir D1 --listen-addr 192.0.2.11:2377 --advertise-addr 192.0.2.11
 *   h1   shoal agent   --data-dir D1 ...            the manager's own node (its identity is in D1)
 *   hN   shoal agent   --data-dir DN --join-token <worker token> --manager 192.0.2.11:2377 ...
 *
 * `up` is reconciliation like the namespaces': a process that runs and is ours (the recorded
 * PID with its start time and command line, or found running in its host with our command
 * line and data dir) is kept, a missing one is started; hosts the testbed no longer has lose
 * their node (removed from the cluster with force) and their data dir. It waits, with a
 * deadline, until the manager answers and every host's node is Ready, then records the
 * processes (state.ts) and writes the context file (src/api/context.ts) that points the CLI
 * at this manager. Ending the processes is `Testbed.down()`'s (it ends everything running in
 * the testbed's namespaces).
 *
 * The daemons get a clean environment (PATH, HOME, LANG, TZ, SHOAL_LOG_LEVEL), as a service
 * manager gives its services: nothing of the caller's (its SHOAL_HOST, a test runner's
 * NODE_OPTIONS) leaks into processes that outlive it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Node } from '../api/api-types.ts';
import { connectManager, type ManagerApi } from '../api/client.ts';
import { contextFilePath, DEFAULT_CONTEXT, writeContext } from '../api/context.ts';
import { dataDirPaths } from '../api/data-dir.ts';
import { isNotFound, ShoalError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { silentLogger } from '../common/logger.ts';
import { packageRoot } from '../common/paths.ts';
import { native } from '../kernel/native.ts';
import { netnsPath } from '../kernel/netns.ts';
import {
  alive,
  type DetachedProcess,
  endProcesses,
  isSameProcess,
  logTail,
  type ProcessInfo,
  processesIn,
  readProcess,
  startDetached,
} from './processes.ts';
import {
  type AgentRecord,
  type ManagerRecord,
  makeTestbedDirs,
  type ProcessRecord,
  readState,
  STATE_VERSION,
  type TestbedPaths,
  type TestbedState,
  testbedPaths,
  writeState,
} from './state.ts';
import { agentPrefix, type Testbed } from './testbed.ts';

/** The manager's mTLS API port inside h1. */
export const MANAGER_PORT = 2377;
/** How long `up` waits for the manager to answer and every node to be Ready, by default. */
export const DEFAULT_UP_TIMEOUT_MS = 60_000;
/** Deadline of each call `up` and `status` make to the manager. */
const CALL_TIMEOUT_MS = 5_000;
const POLL_MS = 100;
/** Variables of the caller's environment the daemons keep. */
const KEPT_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'SHOAL_LOG_LEVEL'];

export interface ClusterProcessStatus {
  host: string;
  netns: string;
  pid: number;
  /** The recorded process still runs (same PID, start time and command line) in its host. */
  alive: boolean;
  /** What this `up` did with it; absent in `status`. */
  action?: 'started' | 'kept';
  dataDir: string;
  log: string;
}

export interface ClusterAgentStatus extends ClusterProcessStatus {
  address: string;
  nodeId: string;
  /** The node's state as the manager reports it (ready, down, ...); absent when it cannot be asked. */
  nodeState?: string;
}

export interface ClusterStatus {
  stateDir: string;
  stateFile: string;
  logDir: string;
  /** The context file naming this manager, and how to select it. */
  context?: { name: string; file: string; host: string; selectWith?: string };
  manager?: ClusterProcessStatus & { listenAddr: string; socket: string };
  agents: ClusterAgentStatus[];
  /** PIDs this `up` ended itself (recorded processes found running outside their host). */
  ended: number[];
  /** Hosts that went in this `up`: their node was removed from the cluster, their data dir deleted. */
  left: Array<{ host: string; nodeId: string; pid?: number }>;
}

export interface ClusterDeps {
  logger?: Logger;
  /** Whether `shoal agent` takes `--prefix` (default: asked once from `shoal agent --help`). */
  agentTakesPrefix?: boolean;
}

interface Wanted {
  role: 'manager' | 'agent';
  host: number;
  argv: string[];
  dataDir: string;
  log: string;
}

interface Ensured {
  pid: number;
  startTime: number;
  argv: string[];
  action: 'started' | 'kept';
  detached?: DetachedProcess;
}

export class TestbedCluster {
  readonly paths: TestbedPaths;
  private readonly logger: Logger;
  private readonly bin: string;
  private agentTakesPrefix: boolean | undefined;

  constructor(
    private readonly testbed: Testbed,
    deps: ClusterDeps = {},
  ) {
    this.paths = testbedPaths(testbed.config.prefix, testbed.config.stateRoot);
    this.logger = deps.logger ?? silentLogger;
    this.bin = join(packageRoot(), 'bin', 'shoal.js');
    this.agentTakesPrefix = deps.agentTakesPrefix;
  }

  get managerAddr(): string {
    return `${this.testbed.hostAddress(1)}:${MANAGER_PORT}`;
  }
  get managerSocket(): string {
    return dataDirPaths(this.paths.dataDir(1)).socket;
  }
  get contextFile(): string {
    return contextFilePath(this.testbed.config.prefix, this.testbed.config.contextDir);
  }

  /**
   * Brings the cluster to a manager in h1 and one Ready agent in each of hosts 1..`hosts`
   * (the namespaces must be up: Testbed.up first). Idempotent.
   */
  async up(hosts: number, options: { timeoutMs?: number } = {}): Promise<ClusterStatus> {
    const deadline = Date.now() + (options.timeoutMs ?? DEFAULT_UP_TIMEOUT_MS);
    const tb = this.testbed;
    makeTestbedDirs(this.paths);
    const prev = readState(this.paths.stateFile);
    const namespaces = Array.from({ length: hosts }, (_, k) => tb.hostNs(k + 1));
    const running = await processesIn(namespaces);
    const ended = await this.endStrays(prev, hosts);

    const managerWanted: Wanted = {
      role: 'manager',
      host: 1,
      dataDir: this.paths.dataDir(1),
      log: this.paths.managerLog,
      argv: [
        process.execPath,
        this.bin,
        'manager',
        '--data-dir',
        this.paths.dataDir(1),
        '--listen-addr',
        this.managerAddr,
        '--advertise-addr',
        tb.hostAddress(1),
      ],
    };
    const manager = await this.ensure(managerWanted, prev?.manager, running);
    const client = connectManager({ host: `unix://${this.managerSocket}`, timeoutMs: CALL_TIMEOUT_MS });
    try {
      await this.waitForManager(client, manager, managerWanted.log, deadline);
      const left = await this.forgetRemovedHosts(client, hosts, prev);
      const token = (await client.joinToken('worker')).token;
      const agents: Array<{ wanted: Wanted; got: Ensured; address: string }> = [];
      for (let i = 1; i <= hosts; i++) {
        const wanted = this.agentWanted(i, token, await this.takesPrefix());
        const got = await this.ensure(
          wanted,
          prev?.agents.find((a) => a.host === `h${i}`),
          running,
        );
        agents.push({ wanted, got, address: tb.hostAddress(i) });
      }
      const nodes = await this.waitForNodes(client, agents, deadline);

      const record = (w: Wanted, e: Ensured): ProcessRecord => ({
        host: `h${w.host}`,
        netns: tb.hostNs(w.host),
        pid: e.pid,
        startTime: e.startTime,
        argv: e.argv,
        dataDir: w.dataDir,
        log: w.log,
      });
      const managerRecord: ManagerRecord = { ...record(managerWanted, manager), listenAddr: this.managerAddr, socket: this.managerSocket };
      const agentRecords: AgentRecord[] = agents.map((a, k) => ({
        ...record(a.wanted, a.got),
        address: a.address,
        nodeId: nodes[k]!.id,
      }));
      const state: TestbedState = {
        version: STATE_VERSION,
        prefix: tb.config.prefix,
        hosts,
        manager: managerRecord,
        agents: agentRecords,
        context: this.contextFile,
        updatedAt: new Date().toISOString(),
      };
      writeState(this.paths.stateFile, state);
      writeContext(
        {
          name: tb.config.prefix,
          host: `unix://${this.managerSocket}`,
          dataDir: this.paths.dataDir(1),
          description: `testbed ${tb.config.prefix} (${hosts} hosts): manager in ${tb.hostNs(1)} at tcp://${this.managerAddr}`,
        },
        tb.config.contextDir,
      );
      this.logger.info({ hosts, manager: manager.pid, agents: agentRecords.map((a) => a.pid) }, 'testbed cluster up');
      return {
        ...this.locations(),
        manager: { ...statusOf(managerRecord, true), action: manager.action, listenAddr: this.managerAddr, socket: this.managerSocket },
        agents: agentRecords.map((a, k) => ({
          ...statusOf(a, true),
          action: agents[k]!.got.action,
          address: a.address,
          nodeId: a.nodeId,
          nodeState: nodes[k]!.status.state,
        })),
        ended,
        left,
      };
    } finally {
      client.close();
    }
  }

  /**
   * What the state file records and whether each process still runs; the nodes' states when
   * the manager answers. Undefined when no cluster was brought up (no state file).
   */
  async status(): Promise<ClusterStatus | undefined> {
    const state = readState(this.paths.stateFile);
    if (!state) return undefined;
    let nodes: Node[] | undefined;
    const managerAlive = state.manager !== undefined && isOurs(state.manager);
    if (managerAlive) {
      const client = connectManager({ host: `unix://${state.manager!.socket}`, timeoutMs: CALL_TIMEOUT_MS });
      try {
        nodes = await client.listNodes();
      } catch (err) {
        this.logger.warn({ err }, 'the testbed manager does not answer');
      } finally {
        client.close();
      }
    }
    return {
      ...this.locations(),
      ...(state.manager
        ? { manager: { ...statusOf(state.manager, managerAlive), listenAddr: state.manager.listenAddr, socket: state.manager.socket } }
        : {}),
      agents: state.agents.map((a) => {
        const nodeState = nodes?.find((n) => n.id === a.nodeId)?.status.state;
        return { ...statusOf(a, isOurs(a)), address: a.address, nodeId: a.nodeId, ...(nodeState ? { nodeState } : {}) };
      }),
      ended: [],
      left: [],
    };
  }

  private locations(): Pick<ClusterStatus, 'stateDir' | 'stateFile' | 'logDir' | 'context'> {
    const name = this.testbed.config.prefix;
    return {
      stateDir: this.paths.root,
      stateFile: this.paths.stateFile,
      logDir: this.paths.logDir,
      context: {
        name,
        file: this.contextFile,
        host: `unix://${this.managerSocket}`,
        ...(name === DEFAULT_CONTEXT ? {} : { selectWith: `SHOAL_CONTEXT=${name}` }),
      },
    };
  }

  private agentWanted(i: number, token: string, withPrefix: boolean): Wanted {
    const tb = this.testbed;
    const dataDir = this.paths.dataDir(i);
    const argv = [
      process.execPath,
      this.bin,
      'agent',
      '--data-dir',
      dataDir,
      '--manager',
      this.managerAddr,
      '--advertise-addr',
      tb.hostAddress(i),
      '--hostname',
      `h${i}`,
    ];
    if (withPrefix) argv.push('--prefix', agentPrefix(tb.config.prefix, i));
    // h1's agent is the manager's own node: its identity is in the manager's data dir
    if (i > 1) argv.push('--join-token', token);
    return { role: 'agent', host: i, argv, dataDir, log: this.paths.agentLog(i) };
  }

  /** Whether this build's `shoal agent` has `--prefix` (asked once; the flag is newer than the testbed). */
  private async takesPrefix(): Promise<boolean> {
    if (this.agentTakesPrefix === undefined) {
      const r = spawnSync(process.execPath, [this.bin, 'agent', '--help'], { encoding: 'utf8', timeout: 30_000 });
      this.agentTakesPrefix = r.status === 0 && /^\s*--prefix\b/m.test(r.stdout);
    }
    return this.agentTakesPrefix;
  }

  /**
   * The recorded process if it still runs in its host, else one of ours found running there
   * (state file lost), else a new one.
   */
  private async ensure(wanted: Wanted, rec: ProcessRecord | undefined, running: ProcessInfo[]): Promise<Ensured> {
    const netns = this.testbed.hostNs(wanted.host);
    if (rec && rec.netns === netns && matches(rec.argv, this.bin, wanted) && isOurs(rec)) {
      return { pid: rec.pid, startTime: rec.startTime, argv: rec.argv, action: 'kept' };
    }
    const found = running.find((p) => p.netns === netns && matches(p.argv, this.bin, wanted));
    if (found) return { pid: found.pid, startTime: found.startTime, argv: found.argv, action: 'kept' };
    const detached = await startDetached(netns, wanted.argv, wanted.log, daemonEnv());
    this.logger.info({ role: wanted.role, host: `h${wanted.host}`, pid: detached.pid }, 'started');
    return { pid: detached.pid, startTime: detached.startTime, argv: wanted.argv, action: 'started', detached };
  }

  /**
   * Ends recorded processes that run but not where they belong: agents of hosts beyond
   * `hosts` (normally ended with their namespace already), and any whose namespace was
   * removed under them.
   */
  private async endStrays(prev: TestbedState | undefined, hosts: number): Promise<number[]> {
    if (!prev) return [];
    const strays: number[] = [];
    for (const rec of [...(prev.manager ? [prev.manager] : []), ...prev.agents]) {
      if (!isSameProcess(rec.pid, rec.startTime, rec.argv)) continue;
      const index = Number(/^h(\d+)$/.exec(rec.host)?.[1]);
      if (index > hosts || !inNetns(rec.pid, rec.netns)) strays.push(rec.pid);
    }
    return endProcesses(strays);
  }

  /**
   * Hosts beyond `hosts` with a data dir: their node leaves the cluster (removed with force;
   * their agent ended with their namespace), their data dir goes.
   */
  private async forgetRemovedHosts(client: ManagerApi, hosts: number, prev: TestbedState | undefined): Promise<ClusterStatus['left']> {
    let entries: string[];
    try {
      entries = readdirSync(this.paths.dataRoot);
    } catch {
      return [];
    }
    const left: ClusterStatus['left'] = [];
    for (const name of entries.sort()) {
      const i = Number(/^h(\d+)$/.exec(name)?.[1]);
      if (!(i > hosts)) continue;
      const dir = this.paths.dataDir(i);
      const nodeId = readNodeId(dir);
      if (nodeId) {
        try {
          await client.removeNode(nodeId, true);
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }
      rmSync(dir, { recursive: true, force: true });
      const pid = prev?.agents.find((a) => a.host === name)?.pid;
      left.push({ host: name, nodeId, ...(pid === undefined ? {} : { pid }) });
      this.logger.info({ host: name, nodeId }, 'host left the cluster');
    }
    return left;
  }

  private async waitForManager(client: ManagerApi, manager: Ensured, log: string, deadline: number): Promise<void> {
    let last: unknown;
    for (;;) {
      exitedEarly('the manager', manager, log);
      try {
        await client.version();
        return;
      } catch (err) {
        last = err;
      }
      if (Date.now() >= deadline) {
        throw new ShoalError(
          'SHOAL_ERR_TIMEOUT',
          `the testbed manager (pid ${manager.pid}) did not answer on ${this.managerSocket} in time`,
          {
            cause: last,
            details: { pid: manager.pid, socket: this.managerSocket, log, tail: logTail(log) },
          },
        );
      }
      await sleep(POLL_MS);
    }
  }

  /** Waits until each agent's node (by the ID in its data dir) is Ready; returns the nodes in order. */
  private async waitForNodes(
    client: ManagerApi,
    agents: ReadonlyArray<{ wanted: Wanted; got: Ensured }>,
    deadline: number,
  ): Promise<Node[]> {
    let last: unknown;
    for (;;) {
      for (const a of agents) exitedEarly(`the agent of h${a.wanted.host}`, a.got, a.wanted.log);
      const ids = agents.map((a) => readNodeId(a.wanted.dataDir));
      let notReady: string[] = agents.map((a) => `h${a.wanted.host}`);
      try {
        const nodes = await client.listNodes();
        const found = ids.map((id) => (id ? nodes.find((n) => n.id === id) : undefined));
        if (found.every((n) => n?.status.state === 'ready')) return found as Node[];
        notReady = agents.flatMap((a, k) => (found[k]?.status.state === 'ready' ? [] : [`h${a.wanted.host}`]));
      } catch (err) {
        last = err;
      }
      if (Date.now() >= deadline) {
        const logs = agents.filter((a) => notReady.includes(`h${a.wanted.host}`)).map((a) => a.wanted.log);
        throw new ShoalError('SHOAL_ERR_TIMEOUT', `the nodes of ${notReady.join(', ')} were not Ready in time (see ${logs.join(', ')})`, {
          ...(last === undefined ? {} : { cause: last }),
          details: { notReady, logs },
        });
      }
      await sleep(POLL_MS);
    }
  }
}

/** Whether `argv` is the command line of `wanted`'s daemon: our bin, its role, its data dir. */
function matches(argv: readonly string[], bin: string, wanted: Wanted): boolean {
  const k = argv.indexOf('--data-dir');
  return argv[1] === bin && argv[2] === wanted.role && k > 2 && argv[k + 1] === wanted.dataDir;
}

/** The recorded process still runs, is the same one, and is inside its host. */
function isOurs(rec: ProcessRecord): boolean {
  return isSameProcess(rec.pid, rec.startTime, rec.argv) && inNetns(rec.pid, rec.netns);
}

function inNetns(pid: number, netns: string): boolean {
  try {
    return readProcess(pid)?.netnsInode === native().netnsInode(netnsPath(netns));
  } catch {
    return false;
  }
}

function statusOf(rec: ProcessRecord, isAlive: boolean): ClusterProcessStatus {
  return { host: rec.host, netns: rec.netns, pid: rec.pid, alive: isAlive, dataDir: rec.dataDir, log: rec.log };
}

/** Fails when a process this `up` started has exited (or one it kept is gone), quoting its log. */
function exitedEarly(what: string, p: Ensured, log: string): void {
  const exit = p.detached?.exit;
  const gone = exit !== undefined || (p.detached === undefined && !alive(p.pid));
  if (!gone) return;
  const how = exit ? (exit.signal ? `was killed by ${exit.signal}` : `exited with status ${exit.code}`) : 'is gone';
  const tail = logTail(log);
  throw new ShoalError('SHOAL_ERR_TESTBED', `${what} (pid ${p.pid}) ${how}; its log ${log} ends:\n${tail}`, {
    details: { pid: p.pid, log, ...(exit ?? {}) },
  });
}

/** The node ID in a data dir's node.json, or '' before the node joined. */
function readNodeId(dataDir: string): string {
  const file = dataDirPaths(dataDir).identity;
  if (!existsSync(file)) return '';
  try {
    const id = (JSON.parse(readFileSync(file, 'utf8')) as { nodeId?: unknown }).nodeId;
    return typeof id === 'string' ? id : '';
  } catch {
    // written atomically, so only a file being replaced right now; asked again next round
    return '';
  }
}

function daemonEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const k of KEPT_ENV) if (process.env[k] !== undefined) env[k] = process.env[k];
  return env;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
