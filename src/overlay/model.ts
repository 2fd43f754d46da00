/**
 * The overlay model: what the agent knows each sync, as the planner's input.
 *
 * The agent builds it from the manager's assignment (networks, its own tasks and their
 * addresses) and from gossip (remote endpoints, already filtered for liveness), then hands
 * it to planOverlay(). Nothing here is read from the kernel.
 */

/** One overlay network whose namespace must exist on this node. */
export interface OverlayNetwork {
  /** Network id (the manager's); the namespace is `${prefix}ov-${id.slice(0, 12)}`. */
  id: string;
  /** VXLAN network identifier, 1-16777215 (the manager allocates from 4096; ingress is 4096). */
  vni: number;
  /** IPv4 subnet in CIDR form, "10.0.0.0/24". */
  subnet: string;
  /** Gateway address inside the subnet, "10.0.0.1"; it goes on br0. */
  gateway: string;
  /** An internal network gives its sandboxes no way out (no egress, no default route). */
  internal: boolean;
  /**
   * MTU of the overlay (bridge, vxlan and every sandbox interface on it): the value of
   * `--opt com.docker.network.driver.mtu` when given; omitted = underlayMtu - 50 (the
   * VXLAN header, 50 bytes over IPv4).
   */
  mtu?: number;
}

/** One interface of a sandbox on one overlay network. */
export interface SandboxAttachment {
  networkId: string;
  /** The sandbox's address with the network's prefix length, "10.0.0.3/24". */
  address: string;
  /** 02:42 + the four IPv4 bytes (common/mac.ts macForAddress). */
  mac: string;
  /**
   * The interface's name in the sandbox, `eth<N>`; omitted = eth<index in attachments>.
   * The agent keeps names stable for a sandbox's life, so a network attached or detached
   * later (service update --network-add/--network-rm) adds or removes one interface and
   * renames none.
   */
  ifname?: string;
}

/** A task's or container's network namespace on this node. */
export interface SandboxModel {
  /** Task or container id; the namespace is `${prefix}sb-${id.slice(0, 12)}`. */
  id: string;
  /** In interface order: attachments[i] is eth<i> unless it names its interface. */
  attachments: SandboxAttachment[];
  /**
   * Address on the host's gateway bridge with its prefix length, "172.18.0.5/16"; it is
   * egressIfname (default eth<attachments.length>) and carries the default route. Omitted when every attached
   * network is internal (the planner also ignores it then).
   */
  egress?: string;
  /** The egress interface's name, `eth<N>`; omitted = eth<attachments.length>. */
  egressIfname?: string;
}

/** An endpoint on another node, to be programmed as one neighbour and one fdb entry. */
export interface RemoteEndpoint {
  networkId: string;
  /** Address without prefix, "10.0.0.5". */
  ip: string;
  mac: string;
  /** The other node's underlay address (its VXLAN local address). */
  vtep: string;
}

export interface OverlayModel {
  /**
   * Prefix of every namespace and host-namespace link shoal creates on this node, e.g.
   * "shoal-h2-". Starts with a letter; letters, digits, `-`, `_` and `.` only. Host link
   * names get a shortened form when it is longer than 9 characters (names.ts).
   */
  prefix: string;
  /** This node's advertise (underlay) address: the VXLAN local address. */
  vtep: string;
  /** MTU of the device carrying the underlay (the agent reads it). */
  underlayMtu: number;
  /** VXLAN UDP port, 4789. */
  dataPort: number;
  /** Networks whose namespace must exist here (networks with a local sandbox, plus ingress). */
  networks: OverlayNetwork[];
  sandboxes: SandboxModel[];
  /** Endpoints on other nodes to program, already filtered for liveness. */
  remotes: RemoteEndpoint[];
  /** The host's gateway bridge (Docker's docker_gwbridge role). */
  egress: { subnet: string; gateway: string };
  /**
   * The cluster's own ports (manager API, gossip, VXLAN) that a task may not reach through
   * its egress path, on any address (plan-egress.ts's guard). Absent = none guarded.
   */
  controlPorts?: { tcp: number[]; udp: number[] };
}
