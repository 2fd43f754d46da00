/**
 * Public types of the IPAM library (see index.ts for how they fit together).
 *
 * Everything here is plain data or an interface: addresses and CIDRs cross the API as
 * canonical strings ('10.0.0.5', '10.0.0.0/24', 'fd73:686f:616c::/64'); the numeric keys
 * the allocators use inside never leak out.
 */

export type IpFamily = 4 | 6;

/** One `--subnet` of a network with the options that belong to it. */
export interface SubnetRequest {
  /** `--subnet`: a CIDR with no host bits set ('10.1.0.0/16', 'fd00:1::/64'). */
  subnet: string;
  /** `--gateway`: an address inside the subnet. Default: the first host address (10.1.0.1, fd00:1::1). */
  gateway?: string;
  /** `--ip-range`: a CIDR inside the subnet that dynamic addresses come from. Default: the whole subnet. */
  ipRange?: string;
  /** `--aux-address name=ip`: addresses inside the subnet reserved under a name, never handed out. */
  auxAddresses?: Readonly<Record<string, string>>;
}

/** What `network create` asks of IPAM. */
export interface NetworkRequest {
  /** The network's ID: the key for look-up, removal and restore. */
  id: string;
  /** The network's name, used in error messages (`network "front" ...`). */
  name: string;
  /**
   * User subnets (`--subnet`, several allowed, both families). A family that gets none here
   * is carved from the default pools: IPv4 unless `ipv4` is false, IPv6 when `ipv6` is true.
   */
  subnets?: readonly SubnetRequest[];
  /** Default true. false: the network has no IPv4 subnet (then it must have IPv6). */
  ipv4?: boolean;
  /**
   * `--ipv6`. Default: true when an IPv6 subnet is given. true without an IPv6 subnet: a /64
   * (by default) is carved from the ULA pool. false together with an IPv6 subnet is refused.
   */
  ipv6?: boolean;
}

/** A subnet of a network as configured (canonical forms). */
export interface SubnetInfo {
  subnet: string;
  family: IpFamily;
  gateway: string;
  /** undefined: dynamic addresses come from the whole subnet. */
  ipRange: string | undefined;
  auxAddresses: Readonly<Record<string, string>>;
  /** true when the subnet was carved from a default pool rather than given by the user. */
  fromDefaultPool: boolean;
}

/**
 * Address counts. Exact up to 2^53; IPv6 sizes above that (a /64 has 2^64 addresses) are
 * the nearest double, which is fine for display and metrics.
 */
export interface AddressCounts {
  /** Addresses in the subnet(s), network and broadcast included. */
  size: number;
  /** Never handed out: network + broadcast (IPv4) or subnet-router anycast (IPv6), gateway, aux addresses. */
  reserved: number;
  /** Held: VIPs, task addresses, static addresses. */
  used: number;
  /** size - reserved - used: still assignable (statically anywhere in the subnet). */
  free: number;
  /** Free addresses inside the ip-range(s): what dynamic allocation can still hand out. */
  dynamicFree: number;
}

export interface SubnetUsage extends AddressCounts {
  subnet: string;
  family: IpFamily;
}

/** Accounting of one network, for `network inspect` and metrics. */
export interface NetworkUsage {
  id: string;
  name: string;
  subnets: SubnetUsage[];
  /** Totals over the network's IPv4 subnets; undefined when it has none. */
  ipv4: AddressCounts | undefined;
  /** Totals over the network's IPv6 subnets; undefined when it has none. */
  ipv6: AddressCounts | undefined;
}

/** One address per family the network has (a task or VIP on a dual-stack network gets both). */
export interface EndpointAddresses {
  ipv4: string | undefined;
  ipv6: string | undefined;
}

/** What an address is to a network (see NetworkIpam.status). */
export type AddressStatus =
  | 'free'
  | 'allocated'
  | 'gateway'
  | 'aux'
  | 'network' // IPv4 network address (offset 0)
  | 'broadcast' // IPv4 broadcast address (last)
  | 'anycast' // IPv6 subnet-router anycast address (offset 0)
  | 'outside'; // in none of the network's subnets

/** The IPAM of one network: its subnets and the addresses held in them. */
export interface NetworkIpam {
  readonly id: string;
  readonly name: string;
  readonly subnets: readonly SubnetInfo[];
  /** false once the network was removed from its address space (allocation then fails). */
  readonly live: boolean;
  hasFamily(family: IpFamily): boolean;
  /** Gateway of the network's first subnet of that family (default: IPv4 if it has IPv4). */
  gateway(family?: IpFamily): string;
  /**
   * A dynamic address (VIP, task, load-balancer address) of one family (default: IPv4 if
   * the network has IPv4, else IPv6): the next free address after the last one handed
   * out in that subnet, wrapping; subnets are tried in order.
   */
  allocate(family?: IpFamily): string;
  /** One dynamic address per family the network has; all or nothing. */
  allocateEndpoint(): EndpointAddresses;
  /** A requested address (`--ip`); refused if outside every subnet, reserved or taken. Returns its canonical form. */
  allocateStatic(address: string): string;
  /**
   * Releases a held address. Returns false when it was not held (idempotent). Throws for
   * an address outside the network or a reserved one (gateway, aux, network, broadcast).
   */
  release(address: string): boolean;
  status(address: string): AddressStatus;
  /** The subnet holding an address (for its prefix length, gateway, ...), or undefined. */
  subnetOf(address: string): SubnetInfo | undefined;
  /** The held addresses in ascending order (for consistency checks; may be long). */
  allocatedAddresses(): IterableIterator<string>;
  usage(): NetworkUsage;
  /** The durable form: store it with the network in the same transaction as the change. */
  serialize(): string;
}

/** A network as the manager stores it: its row's id and name plus NetworkIpam.serialize(). */
export interface StoredNetwork {
  id: string;
  name: string;
  state: string;
}

/** Where a CIDR collides with an existing network. */
export interface OverlapInfo {
  networkId: string;
  networkName: string;
  /** The other network's subnet that overlaps. */
  subnet: string;
}

/** The cluster's address space: every network's subnets, the default pools, overlap checks. */
export interface AddressSpace {
  readonly config: AddressSpaceConfig;
  /** Number of networks. */
  readonly size: number;
  /**
   * Creates a network's IPAM from user options, carving default-pool subnets for families
   * without one. Validates everything (and refuses any overlap with another network)
   * before anything changes.
   */
  createNetwork(request: NetworkRequest): NetworkIpam;
  /** Removes a network; its subnets become free. false if there was none (idempotent). */
  removeNetwork(id: string): boolean;
  get(id: string): NetworkIpam | undefined;
  /** Like get, but throws SHOAL_ERR_IPAM_NETWORK_NOT_FOUND. */
  require(id: string): NetworkIpam;
  networks(): IterableIterator<NetworkIpam>;
  /** The first network subnet overlapping a CIDR, if any (for validation before create). */
  findOverlap(cidr: string): OverlapInfo | undefined;
  /**
   * Runs fn; if it throws, every IPAM change made inside (networks created or removed,
   * addresses allocated or released, cursors moved) is undone and the error rethrown.
   * Nestable. Wrap the store transaction in it so memory and store agree:
   * `space.transaction(() => db.transaction(() => { ... })())`.
   */
  transaction<T>(fn: () => T): T;
  /** Every network's durable form (what restoreAddressSpace takes back). */
  serializeAll(): StoredNetwork[];
}

/** Configuration of an address space. Defaults: defaultAddressSpaceConfig(). */
export interface AddressSpaceConfig {
  /**
   * `--default-addr-pool` (repeatable): IPv4 CIDRs that subnets of networks created without
   * `--subnet` are carved from, in order. Default ['10.0.0.0/8'].
   */
  readonly defaultAddrPools: readonly string[];
  /**
   * `--default-addr-pool-mask-length`: prefix length of each carved IPv4 subnet, 1-30 and
   * no shorter than any pool's. Default 24: 253 usable addresses per network and 65,536
   * networks from 10.0.0.0/8; 20 gives 4,093 addresses but only 4,096 networks.
   */
  readonly defaultAddrPoolMaskLength: number;
  /** IPv6 pool for `--ipv6` without an IPv6 subnet. Default 'fd73:686f:616c::/48' (a ULA block). */
  readonly defaultIpv6Pool: string;
  /** Prefix length of each carved IPv6 subnet. Default 64 (SLAAC-sized; 65,536 networks from a /48). */
  readonly defaultIpv6PoolMaskLength: number;
  /**
   * CIDRs the default carving never hands out (they can still be given explicitly).
   * Default ['10.255.0.0/16'], the ingress network's subnet.
   */
  readonly carveExclude: readonly string[];
}

export type AddressSpaceConfigInput = Partial<AddressSpaceConfig>;
