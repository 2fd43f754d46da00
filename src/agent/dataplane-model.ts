/**
 * From what the agent knows (its assignment, the endpoint views, which sandboxes must
 * exist) to the overlay planner's input. Pure: the agent calls it on every overlay sync.
 *
 * A network's namespace exists on this node only while a local sandbox is attached to it,
 * except ingress, which every node has (the routing mesh enters it on every node).
 * A sandbox gets the egress bridge (Docker's docker_gwbridge role) unless every network it
 * is attached to is internal; then it has no route out at all.
 */
import type { Container, Network, Task } from '../api/api-types.ts';
import type { OverlayModel, OverlayNetwork, RemoteEndpoint, SandboxModel } from '../overlay/model.ts';

/** Docker's option for an overlay's MTU. */
export const MTU_OPTION = 'com.docker.network.driver.mtu';

export const EGRESS_SUBNET = '172.18.0.0/16';
export const EGRESS_GATEWAY = '172.18.0.1';
export const VXLAN_PORT = 4789;
/** The manager's API and gossip ports by default (Docker's): guarded from tasks with VXLAN_PORT. */
export const MANAGER_PORT = 2377;
export const GOSSIP_PORT = 7946;

/** Something that owns a sandbox: a task or a standalone container. */
export interface SandboxOwner {
  id: string;
  networks: Array<{ networkId: string; addresses: string[]; mac: string }>;
}

export interface ModelInput {
  prefix: string;
  vtep: string;
  underlayMtu: number;
  networks: ReadonlyMap<string, Network>;
  /** Owners whose sandbox must exist now (running, starting or stopping). */
  sandboxes: readonly SandboxOwner[];
  /** Egress address (with prefix length) per sandbox owner; absent = allocate none. */
  egress: ReadonlyMap<string, string>;
  /** Remote endpoints per network. */
  remotes: ReadonlyMap<string, readonly RemoteEndpoint[]>;
  /** Interface names per sandbox: network id (or EGRESS_KEY) -> eth<N>; absent = positional. */
  ifnames?: ReadonlyMap<string, ReadonlyMap<string, string>>;
  /**
   * Ports of this cluster a task may not reach through its egress, besides the defaults
   * (TCP MANAGER_PORT and GOSSIP_PORT, UDP VXLAN_PORT and GOSSIP_PORT): this node's gossip
   * port and its manager's port when they differ.
   */
  controlPorts?: { tcp: readonly number[]; udp: readonly number[] };
}

/** The key of the egress interface among a sandbox's interface names. */
export const EGRESS_KEY = '';

/** The attachments of an owner that get an interface: networks known here, with an address and a MAC. */
export function usableAttachments(
  owner: SandboxOwner,
  networks: ReadonlyMap<string, Network>,
): Array<{ networkId: string; address: string; mac: string }> {
  return owner.networks
    .filter((a) => networks.has(a.networkId) && a.addresses.length > 0 && a.mac !== '')
    .map((a) => ({ networkId: a.networkId, address: a.addresses[0]!, mac: a.mac }));
}

/** The interface keys of a sandbox in Docker's order: its networks, then egress (when it has one). */
export function interfaceKeys(owner: SandboxOwner, networks: ReadonlyMap<string, Network>, egress: boolean): string[] {
  const keys = usableAttachments(owner, networks).map((a) => a.networkId);
  if (egress) keys.push(EGRESS_KEY);
  return keys;
}

/** The MTU an overlay asks for with the driver option, or undefined (then underlay - 50). */
export function networkMtu(n: Network): number | undefined {
  const v = n.spec.options[MTU_OPTION];
  if (v === undefined || v === '') return undefined;
  const mtu = Number(v);
  return Number.isInteger(mtu) && mtu >= 68 && mtu <= 65535 ? mtu : undefined;
}

export function overlayNetwork(n: Network): OverlayNetwork | undefined {
  const c = n.ipam[0];
  if (!c?.subnet || !c.gateway) return undefined;
  const mtu = networkMtu(n);
  return {
    id: n.id,
    vni: n.vxlanId,
    subnet: c.subnet,
    gateway: c.gateway,
    internal: n.spec.internal,
    ...(mtu !== undefined ? { mtu } : {}),
  };
}

/** Whether a sandbox attached to these networks gets a route out (any non-internal one). */
export function needsEgress(owner: SandboxOwner, networks: ReadonlyMap<string, Network>): boolean {
  return owner.networks.some((a) => {
    const n = networks.get(a.networkId);
    return n !== undefined && !n.spec.internal;
  });
}

export function buildOverlayModel(input: ModelInput): OverlayModel {
  const wanted = new Set<string>();
  for (const n of input.networks.values()) if (n.spec.ingress || n.ingress) wanted.add(n.id);
  const sandboxes: SandboxModel[] = [];
  for (const owner of input.sandboxes) {
    const names = input.ifnames?.get(owner.id);
    const attachments = usableAttachments(owner, input.networks).map((a) => {
      const ifname = names?.get(a.networkId);
      return ifname ? { ...a, ifname } : a;
    });
    for (const a of attachments) wanted.add(a.networkId);
    const egress = input.egress.get(owner.id);
    const egressIfname = egress ? names?.get(EGRESS_KEY) : undefined;
    sandboxes.push({ id: owner.id, attachments, ...(egress ? { egress } : {}), ...(egressIfname ? { egressIfname } : {}) });
  }
  const networks: OverlayNetwork[] = [];
  for (const id of [...wanted].sort()) {
    const n = input.networks.get(id);
    const o = n && overlayNetwork(n);
    if (o) networks.push(o);
  }
  const present = new Set(networks.map((n) => n.id));
  const remotes: RemoteEndpoint[] = [];
  for (const [id, list] of input.remotes) if (present.has(id)) remotes.push(...list);
  return {
    prefix: input.prefix,
    vtep: input.vtep,
    underlayMtu: input.underlayMtu,
    dataPort: VXLAN_PORT,
    networks,
    sandboxes: sandboxes.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
    remotes,
    egress: { subnet: EGRESS_SUBNET, gateway: EGRESS_GATEWAY },
    controlPorts: {
      tcp: sortedPorts([MANAGER_PORT, GOSSIP_PORT, ...(input.controlPorts?.tcp ?? [])]),
      udp: sortedPorts([VXLAN_PORT, GOSSIP_PORT, ...(input.controlPorts?.udp ?? [])]),
    },
  };
}

export function taskOwner(t: Task): SandboxOwner {
  return { id: t.id, networks: t.networks.map((n) => ({ networkId: n.networkId, addresses: n.addresses, mac: n.mac })) };
}

export function containerOwner(c: Container): SandboxOwner {
  return { id: c.id, networks: c.networks.map((n) => ({ networkId: n.networkId, addresses: n.addresses, mac: n.mac })) };
}

function sortedPorts(ports: readonly number[]): number[] {
  return [...new Set(ports.filter((p) => Number.isInteger(p) && p > 0 && p < 65536))].sort((a, b) => a - b);
}
