/**
 * Where a testbed keeps its files, and the state file that records the processes `up`
 * started.
 *
 *   /run/shoal-testbed/<prefix>/        mode 0700, root's; on tmpfs, so it goes at reboot
 *     state.json                        this file's format (mode 0600: argv holds the join token)
 *     data/h1/                          the manager's data dir, also h1's agent's
 *     data/hN/                          host N's agent's data dir
 *     logs/manager.log                  stdout and stderr of the manager (JSON lines)
 *     logs/agent-hN.log                 the same for host N's agent
 *
 * /run, like the namespaces' bind mounts in /run/netns: both are gone after a reboot, so no
 * state can outlive what it describes. The directory is keyed by the testbed's prefix, so
 * testbeds with different prefixes never share a file.
 *
 * state.json (version 1):
 *   {
 *     "version": 1,
 *     "prefix": "shoal-",
 *     "hosts": 3,
 *     "manager": { ...ProcessRecord, "listenAddr": "192.0.2.11:2377", "socket": ".../data/h1/manager.sock" },
 *     "agents": [ { ...ProcessRecord, "address": "192.0.2.11", "nodeId": "..." }, ... ],
 *     "context": "/run/shoal/context.json",
 *     "updatedAt": "2026-11-22T10:00:00.000Z"
 *   }
 *   ProcessRecord: { "host": "h1", "netns": "shoal-h1", "pid": 4242, "startTime": 123456,
 *                    "argv": [...], "dataDir": "...", "log": "..." }
 * A recorded process is "ours" while a process with that PID runs with the same start time
 * and command line (processes.ts); anything else is stale and is started again.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The directory under which each testbed keeps its files. */
export const TESTBED_STATE_ROOT = '/run/shoal-testbed';
export const STATE_VERSION = 1;

export interface TestbedPaths {
  root: string;
  stateFile: string;
  logDir: string;
  dataRoot: string;
  managerLog: string;
  dataDir(host: number): string;
  agentLog(host: number): string;
}

export function testbedPaths(prefix: string, stateRoot: string = TESTBED_STATE_ROOT): TestbedPaths {
  const root = join(stateRoot, prefix);
  const logDir = join(root, 'logs');
  const dataRoot = join(root, 'data');
  return {
    root,
    stateFile: join(root, 'state.json'),
    logDir,
    dataRoot,
    managerLog: join(logDir, 'manager.log'),
    dataDir: (host) => join(dataRoot, `h${host}`),
    agentLog: (host) => join(logDir, `agent-h${host}.log`),
  };
}

/** One process the testbed started. */
export interface ProcessRecord {
  /** The testbed host it runs in: `h1`. */
  host: string;
  netns: string;
  pid: number;
  startTime: number;
  argv: string[];
  dataDir: string;
  log: string;
}

export interface ManagerRecord extends ProcessRecord {
  /** The manager's mTLS API (from inside the testbed). */
  listenAddr: string;
  /** Its unix socket (reachable from this machine's root namespace: it is a file). */
  socket: string;
}

export interface AgentRecord extends ProcessRecord {
  /** The host's underlay address (the agent's advertise address). */
  address: string;
  /** The node's ID once it joined ('' before). */
  nodeId: string;
}

export interface TestbedState {
  version: typeof STATE_VERSION;
  prefix: string;
  hosts: number;
  manager?: ManagerRecord;
  agents: AgentRecord[];
  /** The context file `up` wrote. */
  context?: string;
  updatedAt: string;
}

/**
 * Reads the state file: undefined when there is none, or when it cannot be used (another
 * version, torn by hand): the testbed then finds its processes by scanning its namespaces.
 */
export function readState(path: string): TestbedState | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
  if (!isState(raw)) return undefined;
  return raw;
}

function isState(v: unknown): v is TestbedState {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  if (o['version'] !== STATE_VERSION || typeof o['prefix'] !== 'string' || !Array.isArray(o['agents'])) return false;
  const records = [...(o['agents'] as unknown[]), ...(o['manager'] === undefined ? [] : [o['manager']])];
  return records.every(isRecord);
}

function isRecord(v: unknown): v is ProcessRecord {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return (
    typeof o['host'] === 'string' &&
    typeof o['netns'] === 'string' &&
    Number.isSafeInteger(o['pid']) &&
    Number.isSafeInteger(o['startTime']) &&
    Array.isArray(o['argv']) &&
    (o['argv'] as unknown[]).every((a) => typeof a === 'string') &&
    typeof o['dataDir'] === 'string' &&
    typeof o['log'] === 'string'
  );
}

/** Writes the state file atomically, mode 0600. */
export function writeState(path: string, state: TestbedState): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

/** Creates the testbed's directories (root's, mode 0700). */
export function makeTestbedDirs(paths: TestbedPaths): void {
  for (const dir of [paths.root, paths.logDir, paths.dataRoot]) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  }
}
