/**
 * The testbed: several "hosts" on one machine, each a network namespace on a shared
 * underlay, all on the real kernel.
 *
 *   shoal-ul        underlay namespace: bridge `ul0` (192.0.2.1/24) — also the outside
 *                   client: traffic "from outside the cluster" starts here
 *   shoal-hN        host N: `eth0` at 192.0.2.(10+N)/24, ip_forward on, default route
 *                   via 192.0.2.1; its veth peer `hN` is a port of ul0
 *
 * Everything is reconciled, not scripted: `up` creates what is missing and repairs what
 * differs (so it is idempotent and also shrinks or grows the host count); `down` removes
 * every namespace carrying the testbed's names, with whatever a later component created
 * inside them, and ends the processes that run inside those namespaces (they can only
 * have been started by the testbed), also after a crash or kill -9 of the process that
 * brought it up. Host-owned kernel objects made by agents carry the host's prefix
 * (`shoal-h2-...`), so they are found by name too.
 *
 * This module owns the namespaces and links; cluster.ts starts the manager and agents
 * inside them (`shoal testbed up` without `--no-cluster`). `down` ends every process in
 * the namespaces, also any process the state file records that runs outside them, and
 * removes the testbed's state directory (state.ts) and its context file.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { CONTEXT_DIR, contextFilePath, isValidContextName, removeContext } from '../api/context.ts';
import { ShoalError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { silentLogger } from '../common/logger.ts';
import type { NetnsManager, Rtnl } from '../kernel/types.ts';
import { createNetnsManager, netnsPath } from '../kernel/netns.ts';
import { openRtnl } from '../kernel/rtnl.ts';
import { createSysctl } from '../kernel/sysctl.ts';
import { endProcesses, errnoOf, isSameProcess, processesIn } from './processes.ts';
import { readState, TESTBED_STATE_ROOT, testbedPaths } from './state.ts';

export interface TestbedConfig {
  /**
   * Prefix of every namespace the testbed owns, and the name of its state directory and
   * context. Tests use their own to run side by side. Letters, digits, `.`, `_`, `-`.
   */
  prefix: string;
  /** Underlay subnet's first three octets; hosts are .11.., the client .1. */
  underlayNet: string;
  /** Prefix length of the underlay. */
  underlayPrefixLen: number;
  /** MTU of the underlay links. Overlay links take 50 less for VXLAN. */
  mtu: number;
  /** Directory holding each testbed's state directory (`<stateRoot>/<prefix>/`, state.ts). */
  stateRoot: string;
  /** Directory of context files (src/api/context.ts): `up` writes this testbed's, `down` removes it. */
  contextDir: string;
}

export const MAX_HOSTS = 200;

/**
 * The `--prefix` of host `host`'s agent: the start of the name of every namespace, link and
 * nft table it creates. All hosts share this machine's /run/netns, so each host has its own.
 * The agent allows 12 characters (link names must fit the kernel's 15), so
 * `<testbed prefix>hN-` (`shoal-h2-`) when the testbed prefix has at most 7 characters of
 * the agent's alphabet (letters, digits, `.`, `-`), else `tb<5 hex of its SHA-256>hN-`
 * (`tb3f9a1h2-`): short, and still found by name at `down`.
 */
export function agentPrefix(testbedPrefix: string, host: number): string {
  return `${agentPrefixBase(testbedPrefix)}h${host}-`;
}

function agentPrefixBase(testbedPrefix: string): string {
  if (/^[A-Za-z0-9.-]{1,7}$/.test(testbedPrefix)) return testbedPrefix;
  return `tb${createHash('sha256').update(testbedPrefix).digest('hex').slice(0, 5)}`;
}

export function defaultTestbedConfig(): TestbedConfig {
  return {
    prefix: 'shoal-',
    underlayNet: '192.0.2',
    underlayPrefixLen: 24,
    mtu: 1500,
    stateRoot: TESTBED_STATE_ROOT,
    contextDir: CONTEXT_DIR,
  };
}

export interface TestbedHost {
  name: string;
  netns: string;
  address: string;
  up: boolean;
}

export interface TestbedStatus {
  up: boolean;
  underlay: { netns: string; bridge: string; client: string; exists: boolean };
  hosts: TestbedHost[];
  /** Namespaces with the testbed's prefix that belong to hosts (overlays, sandboxes). */
  hostNamespaces: string[];
  /** PIDs of processes running inside testbed namespaces. */
  processes: Array<{ pid: number; netns: string; command: string }>;
}

const BRIDGE = 'ul0';
const HOST_LINK = 'eth0';

export class Testbed {
  readonly config: Readonly<TestbedConfig>;
  private readonly netns: NetnsManager;
  private readonly logger: Logger;

  constructor(config: Partial<TestbedConfig> = {}, deps: { netns?: NetnsManager; logger?: Logger } = {}) {
    this.config = Object.freeze({ ...defaultTestbedConfig(), ...config });
    if (!isValidContextName(this.config.prefix) || this.config.prefix.length > 40) {
      throw new ShoalError(
        'SHOAL_ERR_INVALID_ARGUMENT',
        `testbed prefix ${JSON.stringify(this.config.prefix)} must be 1-40 letters, digits, '.', '_' or '-', starting with a letter or digit`,
      );
    }
    this.netns = deps.netns ?? createNetnsManager();
    this.logger = deps.logger ?? silentLogger;
  }

  get underlayNs(): string {
    return `${this.config.prefix}ul`;
  }
  get clientAddress(): string {
    return `${this.config.underlayNet}.1`;
  }
  hostNs(i: number): string {
    return `${this.config.prefix}h${i}`;
  }
  hostAddress(i: number): string {
    return `${this.config.underlayNet}.${10 + i}`;
  }

  /** Brings the testbed to exactly `hosts` hosts. Idempotent. */
  async up(hosts: number): Promise<TestbedStatus> {
    if (!Number.isInteger(hosts) || hosts < 1 || hosts > MAX_HOSTS) {
      throw new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', `--hosts must be an integer from 1 to ${MAX_HOSTS}, got ${hosts}`);
    }
    requireRoot();
    await this.netns.create(this.underlayNs);
    const ul = await openRtnl(this.underlayNs);
    try {
      await ensureLinkUp(ul, 'lo');
      if (!(await ul.getLink(BRIDGE))) await ul.addLink({ name: BRIDGE, kind: 'bridge', mtu: this.config.mtu });
      await ensureLinkUp(ul, BRIDGE);
      await ensureAddress(ul, BRIDGE, this.clientAddress, this.config.underlayPrefixLen);
      for (let i = 1; i <= hosts; i++) await this.upHost(ul, i);
    } finally {
      ul.close();
    }
    // shrink: hosts beyond the wanted count go, with everything they hold
    for (const i of await this.existingHostIndexes()) {
      if (i > hosts) await this.removeHost(i);
    }
    this.logger.info({ hosts }, 'testbed up');
    return this.status();
  }

  private async upHost(ul: Rtnl, i: number): Promise<void> {
    const ns = this.hostNs(i);
    const peer = `h${i}`;
    await this.netns.create(ns);
    const host = await openRtnl(ns);
    try {
      const inHost = await host.getLink(HOST_LINK);
      const inUl = await ul.getLink(peer);
      if (!inHost || !inUl) {
        // a half-made pair (crash between steps) is rebuilt from scratch
        if (inHost) await host.deleteLink(HOST_LINK);
        if (inUl) await ul.deleteLink(peer);
        await ul.addLink({ name: peer, kind: 'veth', mtu: this.config.mtu, veth: { peerName: HOST_LINK, peerNetns: ns } });
      }
      const ulEnd = await ul.getLink(peer);
      if (ulEnd?.master !== BRIDGE) await ul.setLink(peer, { master: BRIDGE });
      await ensureLinkUp(ul, peer);
      await ensureLinkUp(host, 'lo');
      await ensureLinkUp(host, HOST_LINK);
      await ensureAddress(host, HOST_LINK, this.hostAddress(i), this.config.underlayPrefixLen);
      const routes = await host.listRoutes({ family: 4 });
      if (!routes.some((r) => r.dst === 'default'))
        await host.addRoute({ family: 4, dst: 'default', gateway: this.clientAddress, dev: HOST_LINK });
      const sysctl = createSysctl(ns);
      if ((await sysctl.get('net.ipv4.ip_forward')).trim() !== '1') await sysctl.set('net.ipv4.ip_forward', 1);
    } finally {
      host.close();
    }
  }

  private async existingHostIndexes(): Promise<number[]> {
    const re = new RegExp(`^${escapeRe(this.config.prefix)}h(\\d+)$`);
    return (await this.netns.list()).flatMap((n) => {
      const m = re.exec(n);
      return m ? [Number(m[1])] : [];
    });
  }

  /** Namespaces the testbed owns: the underlay, hosts, and those of each host's agent (agentPrefix). */
  private async ownedNamespaces(): Promise<string[]> {
    const p = escapeRe(this.config.prefix);
    const re = new RegExp(`^${p}(ul|h\\d+)(-.*)?$`);
    const agents = new RegExp(`^${escapeRe(agentPrefixBase(this.config.prefix))}h\\d+-`);
    return (await this.netns.list()).filter((n) => re.test(n) || agents.test(n));
  }

  private async removeHost(i: number): Promise<void> {
    const p = `${this.hostNs(i)}`;
    const a = agentPrefix(this.config.prefix, i);
    const doomed = (await this.ownedNamespaces()).filter((n) => n === p || n.startsWith(`${p}-`) || n.startsWith(a));
    // ends processes inside them (only the testbed starts processes there)
    await endProcesses((await processesIn(doomed)).map((p) => p.pid));
    for (const n of doomed) await this.netns.delete(n);
  }

  /**
   * Removes everything the testbed made: its processes, namespaces, state directory and
   * context file. Safe to run at any time, any number of times.
   */
  async down(): Promise<{ namespaces: string[]; killed: number[]; removedFiles: string[] }> {
    requireRoot();
    const owned = await this.ownedNamespaces();
    const paths = testbedPaths(this.config.prefix, this.config.stateRoot);
    // recorded processes that still run but not inside the namespaces (one moved out, or its
    // namespace deleted by hand) are ours too
    const inside = (await processesIn(owned)).map((p) => p.pid);
    const state = readState(paths.stateFile);
    const outside = [...(state?.manager ? [state.manager] : []), ...(state?.agents ?? [])]
      .filter((r) => !inside.includes(r.pid) && isSameProcess(r.pid, r.startTime, r.argv))
      .map((r) => r.pid);
    const killed = await endProcesses([...inside, ...outside]);
    // hosts (and their inner namespaces) first, the underlay last
    owned.sort((a, b) => Number(a === this.underlayNs) - Number(b === this.underlayNs) || b.length - a.length);
    for (const n of owned) await this.netns.delete(n);
    const removedFiles: string[] = [];
    try {
      rmSync(paths.root, { recursive: true });
      removedFiles.push(paths.root);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new ShoalError('SHOAL_ERR_TESTBED', `cannot remove ${paths.root}: ${(err as Error).message}`, {
          cause: err,
          details: { path: paths.root },
          ...errnoOf(err),
        });
      }
    }
    if (removeContext(this.config.prefix, this.config.contextDir)) removedFiles.push(this.contextFile);
    this.logger.info({ namespaces: owned.length, killed: killed.length }, 'testbed down');
    return { namespaces: owned, killed, removedFiles };
  }

  /** The context file `up` writes for this testbed's manager. */
  get contextFile(): string {
    return contextFilePath(this.config.prefix, this.config.contextDir);
  }

  async status(): Promise<TestbedStatus> {
    const owned = await this.ownedNamespaces();
    const ulExists = owned.includes(this.underlayNs);
    const hosts: TestbedHost[] = [];
    for (const i of (await this.existingHostIndexes()).sort((a, b) => a - b)) {
      const ns = this.hostNs(i);
      let up = false;
      try {
        const r = await openRtnl(ns);
        try {
          const link = await r.getLink(HOST_LINK);
          const addrs = await r.listAddresses(HOST_LINK);
          up = !!link?.up && addrs.some((a) => a.address === this.hostAddress(i));
        } finally {
          r.close();
        }
      } catch {
        up = false;
      }
      hosts.push({ name: `h${i}`, netns: ns, address: this.hostAddress(i), up });
    }
    const hostNs = new Set([this.underlayNs, ...hosts.map((h) => h.netns)]);
    return {
      up: ulExists && hosts.length > 0 && hosts.every((h) => h.up),
      underlay: { netns: this.underlayNs, bridge: BRIDGE, client: this.clientAddress, exists: ulExists },
      hosts,
      hostNamespaces: owned.filter((n) => !hostNs.has(n)),
      processes: (await processesIn(owned)).map((p) => ({ pid: p.pid, netns: p.netns, command: p.argv.join(' ') })),
    };
  }

  /** The namespace a testbed host name refers to: `h2`, `shoal-h2`, `client`/`ul`. */
  resolveHost(name: string): string {
    if (name === 'client' || name === 'ul' || name === this.underlayNs) return this.underlayNs;
    const m = /^(?:h)?(\d+)$/.exec(name) ?? new RegExp(`^${escapeRe(this.config.prefix)}h(\\d+)$`).exec(name);
    if (m) return this.hostNs(Number(m[1]));
    throw new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', `unknown testbed host ${JSON.stringify(name)} (use h1, h2, ... or client)`);
  }

  /** Runs a command inside a host's namespace (nsenter, so /sys stays the host's). */
  async exec(
    host: string,
    argv: string[],
    options: { stdio?: 'inherit' | 'pipe' } = {},
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    const ns = this.resolveHost(host);
    if (!(await this.netns.exists(ns))) {
      throw new ShoalError('SHOAL_ERR_TESTBED_NOT_UP', `testbed host ${host} does not exist (run \`shoal testbed up\`)`, {
        details: { netns: ns },
      });
    }
    if (argv.length === 0) throw new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', 'no command given (shoal testbed exec HOST -- CMD ARGS...)');
    const stdio = options.stdio ?? 'pipe';
    return new Promise((resolve, reject) => {
      const child = spawn('nsenter', [`--net=${netnsPath(ns)}`, '--', ...argv], {
        stdio: stdio === 'inherit' ? 'inherit' : ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', (err) =>
        reject(new ShoalError('SHOAL_ERR_COMMAND_FAILED', `cannot run ${argv[0]} in ${ns}: ${err.message}`, { cause: err })),
      );
      child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    });
  }
}

async function ensureLinkUp(r: Rtnl, name: string): Promise<void> {
  const link = await r.getLink(name);
  if (!link) throw new ShoalError('SHOAL_ERR_LINK_NOT_FOUND', `link ${name} is missing in ${r.netns}`);
  if (!link.up) await r.setLink(name, { up: true });
}

async function ensureAddress(r: Rtnl, link: string, address: string, prefixLen: number): Promise<void> {
  const have = await r.listAddresses(link);
  if (have.some((a) => a.address === address && a.prefixLen === prefixLen)) return;
  await r.addAddress({ link, address, prefixLen });
}

function requireRoot(): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new ShoalError('SHOAL_ERR_NOT_ROOT', 'the testbed creates network namespaces: run as root');
  }
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
