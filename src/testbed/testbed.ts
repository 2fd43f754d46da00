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
 */
import { readdir, readFile, readlink } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { ShoalError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { silentLogger } from '../common/logger.ts';
import type { NetnsManager, Rtnl } from '../kernel/types.ts';
import { native } from '../kernel/native.ts';
import { createNetnsManager, netnsPath } from '../kernel/netns.ts';
import { openRtnl } from '../kernel/rtnl.ts';
import { createSysctl } from '../kernel/sysctl.ts';

export interface TestbedConfig {
  /** Prefix of every namespace the testbed owns. Tests use their own to run side by side. */
  prefix: string;
  /** Underlay subnet's first three octets; hosts are .11.., the client .1. */
  underlayNet: string;
  /** Prefix length of the underlay. */
  underlayPrefixLen: number;
  /** MTU of the underlay links. Overlay links take 50 less for VXLAN. */
  mtu: number;
}

export const MAX_HOSTS = 200;

export function defaultTestbedConfig(): TestbedConfig {
  return { prefix: 'shoal-', underlayNet: '192.0.2', underlayPrefixLen: 24, mtu: 1500 };
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

  /** Namespaces the testbed owns: the underlay, hosts, and host-prefixed ones. */
  private async ownedNamespaces(): Promise<string[]> {
    const p = escapeRe(this.config.prefix);
    const re = new RegExp(`^${p}(ul|h\\d+)(-.*)?$`);
    return (await this.netns.list()).filter((n) => re.test(n));
  }

  private async removeHost(i: number): Promise<void> {
    const p = `${this.hostNs(i)}`;
    const doomed = (await this.ownedNamespaces()).filter((n) => n === p || n.startsWith(`${p}-`));
    await this.killProcessesIn(doomed);
    for (const n of doomed) await this.netns.delete(n);
  }

  /** Removes everything the testbed made. Safe to run at any time, any number of times. */
  async down(): Promise<{ namespaces: string[]; killed: number[] }> {
    requireRoot();
    const owned = await this.ownedNamespaces();
    const killed = await this.killProcessesIn(owned);
    // hosts (and their inner namespaces) first, the underlay last
    owned.sort((a, b) => Number(a === this.underlayNs) - Number(b === this.underlayNs) || b.length - a.length);
    for (const n of owned) await this.netns.delete(n);
    this.logger.info({ namespaces: owned.length, killed: killed.length }, 'testbed down');
    return { namespaces: owned, killed };
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
      processes: await this.processesIn(owned),
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

  private async processesIn(namespaces: string[]): Promise<Array<{ pid: number; netns: string; command: string }>> {
    if (namespaces.length === 0) return [];
    const byInode = new Map<number, string>();
    for (const n of namespaces) {
      try {
        byInode.set(native().netnsInode(netnsPath(n)), n);
      } catch {
        /* vanished meanwhile */
      }
    }
    const out: Array<{ pid: number; netns: string; command: string }> = [];
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const link = await readlink(`/proc/${entry}/ns/net`);
        const inode = Number(/\[(\d+)\]/.exec(link)?.[1]);
        const ns = byInode.get(inode);
        if (ns === undefined) continue;
        const cmd = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0').filter(Boolean).join(' ');
        out.push({ pid: Number(entry), netns: ns, command: cmd });
      } catch {
        /* process exited */
      }
    }
    return out;
  }

  /**
   * Ends the processes running inside the given namespaces: SIGTERM, then SIGKILL for
   * those still there after a grace period. Only processes inside testbed namespaces are
   * touched, and nothing but the testbed starts processes there.
   */
  private async killProcessesIn(namespaces: string[]): Promise<number[]> {
    const procs = (await this.processesIn(namespaces)).filter((p) => p.pid !== process.pid);
    if (procs.length === 0) return [];
    for (const p of procs) signal(p.pid, 'SIGTERM');
    const deadline = Date.now() + 2000;
    while (Date.now() < deadline && procs.some((p) => alive(p.pid))) await new Promise((r) => setTimeout(r, 50));
    for (const p of procs) if (alive(p.pid)) signal(p.pid, 'SIGKILL');
    return procs.map((p) => p.pid);
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

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
