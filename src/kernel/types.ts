/**
 * The kernel layer's domain types and interfaces.
 *
 * Everything above src/kernel programs the OS through these interfaces only. Each has a
 * real implementation (netlink, nft, conntrack, /proc/sys) and a Fake with the kernel's
 * semantics for unit tests; a conformance test runs one script against both and compares
 * canonical text dumps (see canonical.ts).
 *
 * Names, not indexes: callers name links; the real implementation resolves indexes.
 */

export type Family = 4 | 6;

export type LinkKind = 'bridge' | 'vxlan' | 'veth' | 'other';

export interface VxlanOptions {
  /** VXLAN network identifier, 1..16777215. */
  vni: number;
  /** UDP destination port (4789 is the IANA port Docker uses). */
  dstport: number;
  /** Local VTEP address (source of encapsulated packets). */
  local?: string;
  /** MAC learning from received packets; off in Docker's static mode. */
  learning: boolean;
  /** ARP proxy: the device answers ARP from its neighbour table. */
  proxy: boolean;
  /** Emit RTM_GETNEIGH misses for unknown destination MACs. */
  l2miss: boolean;
  /** Emit RTM_GETNEIGH misses for unknown destination IPs. */
  l3miss: boolean;
  /** Time to live of encapsulated packets; 0 = inherit. */
  ttl?: number;
}

export interface VethOptions {
  /** Name of the peer interface. */
  peerName: string;
  /** Network namespace (by name) the peer is created in; omitted = the same namespace. */
  peerNetns?: string;
  /** MAC of the peer, if fixed. */
  peerMac?: string;
}

/** What to create. */
export interface LinkSpec {
  name: string;
  kind: Exclude<LinkKind, 'other'>;
  mtu?: number;
  mac?: string;
  /** Bridge to enslave the link to. */
  master?: string;
  /** Bring the link up after creating it. */
  up?: boolean;
  vxlan?: VxlanOptions;
  veth?: VethOptions;
}

/** What exists (as read back from the kernel). */
export interface Link {
  index: number;
  name: string;
  kind: LinkKind;
  mtu: number;
  mac: string;
  /** Administratively up (IFF_UP). */
  up: boolean;
  master?: string;
  vxlan?: VxlanOptions;
  /** For a veth: the peer's ifindex (in whatever namespace it lives). */
  peerIndex?: number;
}

/** Changes to an existing link; omitted fields are left alone. `master: null` releases it. */
export interface LinkChanges {
  up?: boolean;
  mtu?: number;
  mac?: string;
  master?: string | null;
  /** Move the link into this namespace (by name); it disappears from this handle. */
  netns?: string;
  /** Rename. */
  name?: string;
}

export interface Address {
  link: string;
  /** Address without prefix, e.g. 10.0.0.1 or fd00::1. */
  address: string;
  prefixLen: number;
}

export interface Route {
  /** 'default' or a CIDR with host bits clear (10.0.0.0/24, 10.0.0.5/32, fd00::/64). */
  dst: string;
  family: Family;
  gateway?: string;
  /** Output interface. */
  dev?: string;
  /** Routing table id; 254 = main (the default). */
  table?: number;
  /** Preferred source address. */
  src?: string;
  metric?: number;
  /** Kernel route scope; the kernel picks one (link for dev-only, universe otherwise) when omitted. */
  scope?: 'universe' | 'link' | 'host';
}

export type NeighborState = 'permanent' | 'reachable' | 'stale' | 'noarp' | 'incomplete' | 'delay' | 'probe' | 'failed' | 'none';

export interface Neighbor {
  link: string;
  address: string;
  lladdr: string;
  state?: NeighborState;
}

export interface FdbEntry {
  /** The bridge port or VXLAN device. */
  link: string;
  mac: string;
  /** Remote VTEP (VXLAN devices only). */
  dst?: string;
  /** Entry in the device's own table (NTF_SELF), as VXLAN static entries are. */
  self?: boolean;
  /** Entry in the bridge master's table (NTF_MASTER). */
  master?: boolean;
  permanent?: boolean;
}

/** A miss reported by a VXLAN device with l2miss/l3miss. */
export interface NeighborMiss {
  kind: 'l3miss' | 'l2miss';
  link: string;
  /** l3miss: the IP that had no neighbour entry. */
  address?: string;
  /** l2miss: the MAC that had no fdb entry. */
  mac?: string;
}

export interface LinkEvent {
  type: 'new' | 'del';
  link: Link;
}

export interface RtnlEvents {
  link: (event: LinkEvent) => void;
  miss: (miss: NeighborMiss) => void;
  error: (err: Error) => void;
}

/** Routing-netlink operations on one network namespace. */
export interface Rtnl {
  /** The namespace this handle programs ('' = the one the process started in). */
  readonly netns: string;

  listLinks(): Promise<Link[]>;
  /** The link, or undefined when it does not exist. */
  getLink(name: string): Promise<Link | undefined>;
  /** EEXIST (SHOAL_ERR_ALREADY_EXISTS) when a link of that name exists. */
  addLink(spec: LinkSpec): Promise<void>;
  /** SHOAL_ERR_LINK_NOT_FOUND when the link does not exist. */
  setLink(name: string, changes: LinkChanges): Promise<void>;
  /** Deleting a missing link is success (returns false). A veth deletes its peer too. */
  deleteLink(name: string): Promise<boolean>;

  listAddresses(link?: string): Promise<Address[]>;
  addAddress(addr: Address): Promise<void>;
  deleteAddress(addr: Address): Promise<boolean>;

  /** Routes of one table (default: main). Kernel-made local/broadcast routes are left out. */
  listRoutes(options?: { table?: number; family?: Family }): Promise<Route[]>;
  addRoute(route: Route): Promise<void>;
  deleteRoute(route: Route): Promise<boolean>;

  listNeighbors(options?: { link?: string; family?: Family }): Promise<Neighbor[]>;
  /** Adds or replaces the entry for (link, address). */
  setNeighbor(neigh: Neighbor): Promise<void>;
  deleteNeighbor(neigh: Pick<Neighbor, 'link' | 'address'>): Promise<boolean>;

  listFdb(options?: { link?: string }): Promise<FdbEntry[]>;
  /** Adds or replaces the entry for (link, mac, dst). */
  setFdb(entry: FdbEntry): Promise<void>;
  deleteFdb(entry: Pick<FdbEntry, 'link' | 'mac' | 'dst' | 'self' | 'master'>): Promise<boolean>;

  /** Subscribes to link and neighbour-miss events; resolves once subscribed. */
  watch(handlers: Partial<RtnlEvents>): Promise<Watch>;

  close(): void;
}

export interface Watch {
  close(): void;
}

/** Network namespaces by name (/run/netns/NAME, as `ip netns` keeps them). */
export interface NetnsManager {
  /** Creates the namespace; existing = success (returns false). */
  create(name: string): Promise<boolean>;
  /** Deletes the namespace; missing = success (returns false). */
  delete(name: string): Promise<boolean>;
  list(): Promise<string[]>;
  exists(name: string): Promise<boolean>;
  /** Path of the namespace's bind mount, for nsenter and setns. */
  path(name: string): string;
}

/** The nftables table dump shape we read back (the `nft -j` JSON, parsed). */
export interface NftTableDump {
  family: string;
  name: string;
  /** Raw `nftables` array from `nft -j list table`. */
  json: unknown[];
}

export interface Nft {
  /** Applies a transaction (nft script text, or a JSON `{nftables: [...]}` object) atomically. */
  apply(tx: string | { nftables: unknown[] }): Promise<void>;
  /** Lists one table as JSON; undefined when it does not exist. */
  listTable(family: string, name: string): Promise<NftTableDump | undefined>;
  /** Deletes a table; missing = success (returns false). */
  deleteTable(family: string, name: string): Promise<boolean>;
  listTables(): Promise<Array<{ family: string; name: string }>>;
}

export interface ConntrackFilter {
  protocol?: 'tcp' | 'udp';
  family?: Family;
}

export interface Conntrack {
  /** Deletes entries whose original destination is `address` (and port, if given). Returns how many. */
  deleteByOrigDst(address: string, filter?: ConntrackFilter & { port?: number }): Promise<number>;
  /**
   * Deletes entries whose reply source is `address` (and port). `origDst` narrows it to
   * entries whose original destination is that address too (the flows a VIP NATed to this
   * backend, on any port, and not the direct ones). `unreplied` narrows it to entries that
   * never saw a packet back (a SYN or a datagram nothing answered). Returns how many.
   */
  deleteByReplySrc(address: string, filter?: ConntrackFilter & { port?: number; origDst?: string; unreplied?: boolean }): Promise<number>;
  /**
   * Deletes every entry that any of `deletions` matches, reading the table once (per
   * address family) for all of them: the kernel walks its whole table, every namespace's
   * entries, for each read, so a batch costs one walk where separate calls cost one each.
   * Returns how many entries each deletion deleted, in order; an entry that several match
   * counts for the first. A failure fails the whole batch (the deletions are idempotent:
   * retry them all).
   */
  deleteMatching(deletions: readonly ConntrackDeletion[]): Promise<number[]>;
}

/** One deletion of a batch: what deleteByOrigDst and deleteByReplySrc take. */
export type ConntrackDeletion =
  | { direction: 'orig-dst'; address: string; filter?: ConntrackFilter & { port?: number } }
  | { direction: 'reply-src'; address: string; filter?: ConntrackFilter & { port?: number; origDst?: string; unreplied?: boolean } };

export interface Sysctl {
  /** Reads a sysctl by dotted or slashed name (net.ipv4.ip_forward). */
  get(name: string): Promise<string>;
  set(name: string, value: string | number): Promise<void>;
}

/** One namespace's handles, as the agent and testbed use them. */
export interface KernelHandles {
  netns: string;
  rtnl: Rtnl;
  nft: Nft;
  conntrack: Conntrack;
  sysctl: Sysctl;
}
