/**
 * The routing mesh's two small tables, planned purely (model -> whole table text).
 *
 * A published port answers on every node: the host namespace sends it to the node's
 * ingress sandbox, whose load balancer (a VipModel whose VIP is the sandbox's own egress
 * address, src/agent/lb-model.ts) picks one of the service's tasks on any node across the
 * ingress overlay and source-NATs, so the task's reply comes back through the same sandbox
 * and the same host:
 *
 *   client -> host:8080 --host table: DNAT to the ingress sandbox's egress address (port kept)
 *          -> ingress sandbox --its lb table: DNAT to task:80 on the ingress overlay
 *          --its snat table: masquerade to its own ingress address -> task
 *
 * Host table `${prefix}mesh` (family ip), replaced whole in one transaction:
 *
 *   chain prerouting   nat, prerouting, -100  packets arriving for a local address
 *   chain output       nat, output, -100      the node's own clients (its address, localhost)
 *     fib daddr type local tcp dport { 8080, ... } dnat to ISB        (ingress-mode ports)
 *     fib daddr type local udp dport { ... } dnat to ISB
 *     fib daddr type local tcp dport 8081 dnat to TASK:80              (mode=host, a local task)
 *   chain postrouting  nat, postrouting, 100
 *     oifname "GW" ct status dnat fib saddr type local masquerade
 *
 * The postrouting rule gives the node's own connections (source 127.0.0.1 or a host
 * address) the gateway bridge's address, so the ingress sandbox's reply returns to the
 * host's conntrack; localhost additionally needs route_localnet on the bridge (the
 * applier sets it). `fib daddr type local` matches every address of the node, present and
 * future, so a port answers on any local address with no per-address state.
 *
 * Ingress sandbox table `${prefix}isnat` (family ip):
 *
 *   chain postrouting  nat, postrouting, 100
 *     oifname "IF" ct status dnat masquerade     (IF: the sandbox's interface on ingress)
 *
 * Rules are written as nft prints them back (`dnat to`, sets sorted), and the canonical
 * text is kernel/nft.ts's canonicalNftTable form, so a table read back compares equal
 * when nothing drifted.
 */
import type { VipProtocol } from './plan.ts';

export interface MeshPort {
  protocol: VipProtocol;
  /** The published port, 1-65535. */
  port: number;
}

/** A `mode=host` published port of a task running on this node. */
export interface HostModePort {
  protocol: VipProtocol;
  port: number;
  /** The task's egress address (no prefix length). */
  address: string;
  targetPort: number;
  /** The task, for problems. */
  owner: string;
}

export interface MeshHostModel {
  tableName: string;
  /** The egress (gateway) bridge in the host namespace. */
  bridge: string;
  /** The ingress sandbox's egress address; undefined while it has none (no ingress ports then). */
  ingressAddress: string | undefined;
  ingressPorts: MeshPort[];
  hostPorts: HostModePort[];
}

/** A whole nft table: the transaction that replaces it, and its canonical text. */
export interface PlannedTable {
  family: 'ip';
  name: string;
  script: string;
  canonical: string;
}

export interface MeshProblem {
  item: string;
  message: string;
}

interface ChainSpec {
  name: string;
  hook: 'prerouting' | 'output' | 'postrouting';
  priority: number;
  rules: string[];
}

function wholeTable(name: string, chains: ChainSpec[]): PlannedTable {
  const t = `ip ${name}`;
  // `add table` first so the delete never fails on a missing table (nft 1.0.6 has no destroy)
  const script = [`add table ${t}`, `delete table ${t}`, `add table ${t}`];
  for (const c of chains) {
    script.push(`add chain ${t} ${c.name} { type nat hook ${c.hook} priority ${c.priority}; policy accept; }`);
    for (const r of c.rules) script.push(`add rule ${t} ${c.name} ${r}`);
  }
  const canonical = [`table ${t}`];
  for (const c of [...chains].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    canonical.push(`chain ${t} ${c.name} type nat hook ${c.hook} prio ${c.priority} policy accept`);
    for (const r of c.rules) canonical.push(`  rule ${r}`);
  }
  return { family: 'ip', name, script: `${script.join('\n')}\n`, canonical: canonical.join('\n') };
}

function portList(ports: number[]): string {
  return ports.length === 1 ? String(ports[0]) : `{ ${ports.join(', ')} }`;
}

const V4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;

function validPort(p: unknown): p is number {
  return typeof p === 'number' && Number.isInteger(p) && p >= 1 && p <= 65535;
}

/**
 * The host table of the mesh, or undefined when this node publishes nothing (then the
 * table must not exist). Ingress-mode ports win over a host-mode port of the same number
 * (the manager never allocates both; a model that has both reports a problem).
 */
export function planMeshHost(model: MeshHostModel): { table: PlannedTable | undefined; problems: MeshProblem[] } {
  const problems: MeshProblem[] = [];
  if (!IFNAME_RE.test(model.bridge)) throw new TypeError(`bridge name ${JSON.stringify(model.bridge)} is not an interface name`);
  const ingress: Record<VipProtocol, Set<number>> = { tcp: new Set(), udp: new Set() };
  if (model.ingressPorts.length > 0 && (model.ingressAddress === undefined || !V4_RE.test(model.ingressAddress))) {
    problems.push({ item: 'ingress', message: `the ingress sandbox has no egress address yet; ${model.ingressPorts.length} port(s) wait` });
  } else {
    for (const p of model.ingressPorts) {
      if (!validPort(p.port) || (p.protocol !== 'tcp' && p.protocol !== 'udp')) {
        problems.push({ item: `ingress ${p.protocol}/${p.port}`, message: 'not a TCP or UDP port 1-65535' });
        continue;
      }
      ingress[p.protocol].add(p.port);
    }
  }
  const rules: string[] = [];
  for (const proto of ['tcp', 'udp'] as const) {
    const ports = [...ingress[proto]].sort((a, b) => a - b);
    if (ports.length > 0) rules.push(`fib daddr type local ${proto} dport ${portList(ports)} dnat to ${model.ingressAddress}`);
  }
  const claimed = new Map<string, string>();
  const hostPorts = [...model.hostPorts].sort((a, b) =>
    a.protocol !== b.protocol
      ? a.protocol < b.protocol
        ? -1
        : 1
      : a.port - b.port || (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0),
  );
  for (const h of hostPorts) {
    const item = `host ${h.protocol}/${h.port} (${h.owner})`;
    if (!validPort(h.port) || !validPort(h.targetPort) || (h.protocol !== 'tcp' && h.protocol !== 'udp') || !V4_RE.test(h.address)) {
      problems.push({ item, message: 'not a TCP or UDP port 1-65535 to an IPv4 address' });
      continue;
    }
    if (ingress[h.protocol].has(h.port)) {
      problems.push({ item, message: `port ${h.port}/${h.protocol} is published through the routing mesh` });
      continue;
    }
    const key = `${h.protocol}/${h.port}`;
    const holder = claimed.get(key);
    if (holder !== undefined) {
      problems.push({ item, message: `port ${key} is published by ${holder} on this node` });
      continue;
    }
    claimed.set(key, h.owner);
    rules.push(`fib daddr type local ${h.protocol} dport ${h.port} dnat to ${h.address}:${h.targetPort}`);
  }
  if (rules.length === 0) return { table: undefined, problems };
  const table = wholeTable(model.tableName, [
    { name: 'prerouting', hook: 'prerouting', priority: -100, rules },
    { name: 'output', hook: 'output', priority: -100, rules },
    {
      name: 'postrouting',
      hook: 'postrouting',
      priority: 100,
      rules: [`oifname "${model.bridge}" ct status dnat fib saddr type local masquerade`],
    },
  ]);
  return { table, problems };
}

/** The ingress sandbox's source-NAT table: what it forwards onto the ingress overlay leaves with its own address. */
export function planIngressSnat(tableName: string, ingressIfname: string): PlannedTable {
  if (!IFNAME_RE.test(ingressIfname)) throw new TypeError(`interface name ${JSON.stringify(ingressIfname)} is not valid`);
  return wholeTable(tableName, [
    { name: 'postrouting', hook: 'postrouting', priority: 100, rules: [`oifname "${ingressIfname}" ct status dnat masquerade`] },
  ]);
}

/** Where the embedded resolver answers inside every sandbox. */
export const RESOLVER_ADDRESS = '127.0.0.11';

/**
 * A sandbox's resolver redirect: queries to 127.0.0.11:53 (UDP and TCP) go to the ports the
 * node's resolver opened inside the sandbox (conntrack maps the answers back to port 53),
 * so a task may still run a server of its own on port 53.
 */
export function planResolverRedirect(tableName: string, udpPort: number, tcpPort: number): PlannedTable {
  if (!validPort(udpPort) || !validPort(tcpPort)) throw new TypeError(`resolver ports ${udpPort}/${tcpPort} must be 1-65535`);
  return wholeTable(tableName, [
    {
      name: 'output',
      hook: 'output',
      priority: -100,
      rules: [
        `ip daddr ${RESOLVER_ADDRESS} udp dport 53 dnat to ${RESOLVER_ADDRESS}:${udpPort}`,
        `ip daddr ${RESOLVER_ADDRESS} tcp dport 53 dnat to ${RESOLVER_ADDRESS}:${tcpPort}`,
      ],
    },
  ]);
}
