/**
 * The host's egress nftables table (Docker's docker_gwbridge role), planned purely.
 *
 * One table, family ip, named `${prefix}egress`, holding:
 * - postrouting (nat, priority 100 = srcnat): sandboxes' egress addresses leaving by any
 *   interface but the gateway bridge are masqueraded, so a task reaches the outside with
 *   the host's address;
 * - forward (filter, priority 0): frames from one gateway-bridge port to another are
 *   dropped (Docker's enable_icc=false on docker_gwbridge): sandboxes on different overlays
 *   all have an egress interface on this bridge, and must not reach each other across it.
 *   Bridged frames reach the ip family's forward hook because bridge-nf-call-iptables is 1
 *   in a new namespace (PLATFORM.md), with the bridge as both input and output interface;
 *   checked on kernel 6.18 (test/kernel/overlay);
 * - vxlan-in and vxlan-out (filter, priority -300 = raw, before conntrack at -200): the
 *   overlay's own VXLAN packets (UDP to the data port, to or from this node's VTEP address)
 *   are not tracked. The outer source port is a hash of the inner flow, so conntrack kept
 *   one outer UDP entry per inner connection, on both nodes, as well as a lookup per packet:
 *   after ten seconds of new connections through the mesh a host held tens of thousands
 *   of such entries, which every conntrack walk (a dump, a namespace's teardown) has to
 *   step over. Nothing NATs or filters these packets by state here; a host firewall must
 *   accept the data port by port and address, not as "established" (docs/operations).
 *
 * - input and forward (filter, priority 0), the control-plane guard: nothing that enters
 *   from the gateway bridge (a task's egress path) reaches the cluster's own ports, on this
 *   host (input) or any other (forward): the manager's API (TCP 2377), gossip (TCP and UDP
 *   7946) and the VXLAN data port (UDP 4789), or the ports this node was configured with.
 *   A task must not talk to the manager as if it were a node, inject or probe gossip, nor
 *   send VXLAN frames that a host would decapsulate onto an overlay the task is not
 *   attached to. The ports are blocked towards every destination, not only known node
 *   addresses: a host answers on all its addresses, nodes join and leave, and the rule
 *   must hold for a node this one has not heard of yet. A task that must reach an outside
 *   service on one of these ports cannot do so through its egress (docs/operations.md).
 *
 * The table is replaced as a whole in one `nft -f` transaction: `add table` (so the
 * `delete` cannot fail on a missing table: nft 1.0.6 has no `destroy`), `delete table`,
 * then the table built again. Rules are written in the form nft prints them back, so the
 * canonical text of what the kernel holds equals `canonical` here when nothing drifted.
 */
import type { DesiredNftTable } from './objects.ts';

interface ChainSpec {
  name: string;
  type: 'filter' | 'nat';
  hook: 'forward' | 'input' | 'postrouting' | 'prerouting' | 'output';
  priority: number;
  rules: string[];
}

/** The overlay's VXLAN endpoint on this node: its packets are left untracked. */
export interface EgressVxlan {
  /** This node's VTEP (advertise) address. */
  vtep: string;
  /** The VXLAN UDP port. */
  port: number;
}

/** Ports a task may not reach through its egress path (the control-plane guard). */
export interface EgressGuard {
  tcp: readonly number[];
  udp: readonly number[];
}

/** Raw priority: before conntrack (-200) sees the packet. */
const RAW_PRIORITY = -300;

/** The egress table for gateway bridge `bridge` and egress subnet `subnet` (CIDR, host bits clear). */
export function planEgressTable(
  tableName: string,
  bridge: string,
  subnet: string,
  vxlan?: EgressVxlan,
  guard?: EgressGuard,
): DesiredNftTable {
  const guardRules = guard ? guardMatches(guard).map((m) => `iifname "${bridge}" ${m} drop`) : [];
  const chains: ChainSpec[] = [
    {
      name: 'postrouting',
      type: 'nat',
      hook: 'postrouting',
      priority: 100,
      rules: [`ip saddr ${subnet} oifname != "${bridge}" masquerade`],
    },
    {
      name: 'forward',
      type: 'filter',
      hook: 'forward',
      priority: 0,
      rules: [`iifname "${bridge}" oifname "${bridge}" drop`, ...guardRules],
    },
  ];
  if (guardRules.length > 0) chains.push({ name: 'input', type: 'filter', hook: 'input', priority: 0, rules: guardRules });
  if (vxlan) {
    chains.push(
      {
        name: 'vxlan-in',
        type: 'filter',
        hook: 'prerouting',
        priority: RAW_PRIORITY,
        rules: [`ip daddr ${vxlan.vtep} udp dport ${vxlan.port} notrack`],
      },
      {
        name: 'vxlan-out',
        type: 'filter',
        hook: 'output',
        priority: RAW_PRIORITY,
        rules: [`ip saddr ${vxlan.vtep} udp dport ${vxlan.port} notrack`],
      },
    );
  }
  const t = `ip ${tableName}`;
  const script = [`add table ${t}`, `delete table ${t}`, `add table ${t}`];
  for (const c of chains) {
    script.push(`add chain ${t} ${c.name} { type ${c.type} hook ${c.hook} priority ${c.priority}; policy accept; }`);
    for (const r of c.rules) script.push(`add rule ${t} ${c.name} ${r}`);
  }
  // canonicalNftTable's form: the table line, chains sorted by name each with its rules.
  const canonical = [`table ${t}`];
  for (const c of [...chains].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    canonical.push(`chain ${t} ${c.name} type ${c.type} hook ${c.hook} prio ${c.priority} policy accept`);
    for (const r of c.rules) canonical.push(`  rule ${r}`);
  }
  return { family: 'ip', name: tableName, script: `${script.join('\n')}\n`, canonical: canonical.join('\n') };
}

/** `tcp dport { ... }` and `udp dport ...` in the form nft prints them back (sorted, no braces for one port). */
function guardMatches(guard: EgressGuard): string[] {
  const out: string[] = [];
  for (const [proto, ports] of [
    ['tcp', guard.tcp],
    ['udp', guard.udp],
  ] as const) {
    const list = [...new Set(ports.filter((p) => Number.isInteger(p) && p > 0 && p < 65536))].sort((a, b) => a - b);
    if (list.length === 1) out.push(`${proto} dport ${list[0]}`);
    else if (list.length > 1) out.push(`${proto} dport { ${list.join(', ')} }`);
  }
  return out;
}
